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
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // After "pid (comm) ", fields start at 3 (state): utime is 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 1e6 / CLOCK_TICKS;
}
