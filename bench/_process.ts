// What several benchmarks ask of a child process: its standard output as
// text, and the CPU time a server process has used so far.

/** Runs `binary` with `args` (and `stdin`, if given) to its end; returns its standard output. */
export async function commandText(
  binary: string,
  args: string[],
  stdin?: Uint8Array,
): Promise<string> {
  const child = new Deno.Command(binary, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(stdin);
    await writer.close();
  }
  return new TextDecoder().decode((await child.output()).stdout);
}

/** Clock ticks per second of /proc/PID/stat's times (`getconf CLK_TCK`). */
const CLOCK_TICKS = Number((await commandText("getconf", ["CLK_TCK"])).trim()) || 100;

/** User plus system CPU time a process has used, in microseconds (clock-tick resolution). */
export function cpuMicros(pid: number): number {
  const { userMicros, systemMicros } = cpuTimes(pid);
  return userMicros + systemMicros;
}

/**
 * A process's user and system CPU time apart, in microseconds: system time
 * is mostly the socket calls, which cost every server alike, so the user
 * time is where one server's own work shows.
 */
export function cpuTimes(pid: number): { userMicros: number; systemMicros: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // After "pid (comm) ", fields start at 3 (state): utime is 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    userMicros: Number(fields[11]) * 1e6 / CLOCK_TICKS,
    systemMicros: Number(fields[12]) * 1e6 / CLOCK_TICKS,
  };
}

/**
 * CPU time of a process and everything under it, in microseconds: its own
 * and its live descendants' user plus system time, and the time of the
 * children it has already reaped (cutime and cstime, which count their
 * reaped children in turn). For a server that forks a process per
 * connection (PostgreSQL) the difference across a run counts the backends
 * that served it, ended or not.
 */
export function cpuMicrosOfTree(pid: number): number {
  const children = new Map<number, number[]>();
  const own = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    const id = Number(entry.name);
    if (!Number.isInteger(id)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${id}/stat`);
    } catch {
      continue; // exited meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const parent = Number(fields[1]);
    const ticks = Number(fields[11]) + Number(fields[12]) +
      (id === pid ? Number(fields[13]) + Number(fields[14]) : 0);
    own.set(id, ticks);
    children.set(parent, [...(children.get(parent) ?? []), id]);
  }
  let ticks = 0;
  const pending = [pid];
  while (pending.length > 0) {
    const id = pending.pop()!;
    ticks += own.get(id) ?? 0;
    pending.push(...(children.get(id) ?? []));
  }
  return ticks * 1e6 / CLOCK_TICKS;
}
