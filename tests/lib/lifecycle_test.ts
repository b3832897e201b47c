import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { BufferedReader } from "../../lib/buffered_reader.ts";
import { fromUtf8, utf8 } from "../../lib/bytes.ts";
import { formatAddress, watchSupervisorPipe } from "../../lib/lifecycle.ts";
import { echoService } from "../_support/fixtures/echo_service.ts";
import { startService } from "../_support/service.ts";
import { spawnService } from "../_support/subprocess.ts";

const ECHO = fileURLToPath(new URL("../_support/fixtures/echo_service.ts", import.meta.url));

async function echoOnce(port: number, text: string): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(utf8(text + "\r\n"));
  const line = await new BufferedReader(conn).readLine({ bytesMax: 100 });
  return line === null ? "" : fromUtf8(line);
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`a service process drains on ${signal} and exits 0`, async () => {
    const svc = await spawnService(["--port", "0"], { script: ECHO, roles: ["tcp"] });
    assert.equal(await echoOnce(svc.ports.tcp, "hello"), "hello");
    svc.kill(signal);
    const status = await svc.exited();
    assert.equal(status.code, 0, svc.lines.join("\n"));
    assert.ok(
      svc.lines.some((l) => l.includes(`${signal} received, draining`)),
      svc.lines.join("\n"),
    );
    assert.ok(svc.lines.some((l) => l.includes("echo stopped")));
    // The port is released: nothing answers there any more.
    await assert.rejects(() => Deno.connect({ hostname: "127.0.0.1", port: svc.ports.tcp }));
  });
}

Deno.test("a service whose drain overruns the deadline exits 1 and says why", async () => {
  const svc = await spawnService(
    ["--port", "0", "--close-delay-ms", "5000", "--drain-timeout-ms", "200"],
    { script: ECHO, roles: ["tcp"] },
  );
  svc.kill("SIGTERM");
  const status = await svc.exited();
  assert.equal(status.code, 1);
  assert.ok(
    svc.lines.some((l) => l.includes("drain did not finish within 200 ms")),
    svc.lines.join("\n"),
  );
});

async function waitForLine(lines: string[], test: (line: string) => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!lines.some(test)) {
    if (Date.now() > deadline) throw new Error(`timed out; saw:\n${lines.join("\n")}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("a second stop signal does not cut the drain short (Ctrl-C, then the supervisor's SIGTERM)", async () => {
  const svc = await spawnService(["--port", "0", "--close-delay-ms", "1000"], {
    script: ECHO,
    roles: ["tcp"],
  });
  svc.kill("SIGINT");
  await waitForLine(svc.lines, (l) => l.includes("SIGINT received, draining"));
  svc.kill("SIGTERM");
  const status = await svc.exited();
  assert.equal(status.signal, null, svc.lines.join("\n"));
  assert.equal(status.code, 0, svc.lines.join("\n"));
  assert.ok(svc.lines.some((l) => l.includes("SIGTERM received again (2 of 3)")));
  assert.ok(svc.lines.some((l) => l.includes("echo stopped")), svc.lines.join("\n"));
});

Deno.test("a stop signal arriving after the drain, before the process exits, does not kill it", async () => {
  const svc = await spawnService(["--port", "0", "--exit-delay-ms", "3000"], {
    script: ECHO,
    roles: ["tcp"],
  });
  svc.kill("SIGINT");
  await waitForLine(svc.lines, (l) => l.includes("echo stopped"));
  svc.kill("SIGTERM");
  const status = await svc.exited();
  assert.equal(status.signal, null, svc.lines.join("\n"));
  assert.equal(status.code, 0, svc.lines.join("\n"));
});

Deno.test("a third stop signal stops at once, exit 1, saying the drain did not finish", async () => {
  const svc = await spawnService(
    ["--port", "0", "--close-delay-ms", "60000", "--drain-timeout-ms", "120000"],
    { script: ECHO, roles: ["tcp"] },
  );
  svc.kill("SIGINT");
  await waitForLine(svc.lines, (l) => l.includes("SIGINT received, draining"));
  svc.kill("SIGTERM");
  await waitForLine(svc.lines, (l) => l.includes("received again"));
  svc.kill("SIGINT");
  const status = await svc.exited();
  assert.equal(status.code, 1, svc.lines.join("\n"));
  assert.ok(svc.lines.some((l) => l.includes("stop forced by a third stop signal")));
  assert.ok(!svc.lines.some((l) => l.includes("echo stopped")));
});

Deno.test("a supervised service drains and exits 0 when its supervisor's pipe closes", async () => {
  const { child, lines, pump } = spawnSupervisedEcho();
  await waitForLine(lines, (l) => l.includes("echo listening tcp on"));
  // What the kernel does for us when the supervisor dies, however it dies.
  await child.stdin.close();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const status = await Promise.race([
    child.status,
    new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 20_000)),
  ]);
  clearTimeout(timer);
  if (status === null) child.kill("SIGKILL");
  await child.status;
  await pump;
  assert.ok(status !== null, `still running 20 s after its pipe closed:\n${lines.join("\n")}`);
  assert.equal(status.code, 0, lines.join("\n"));
  assert.ok(lines.some((l) => l.includes("supervisor gone")), lines.join("\n"));
  assert.ok(lines.some((l) => l.includes("echo stopped")));
});

Deno.test("watchSupervisorPipe() ignores stdin unless the supervisor announced its pipe", async () => {
  using pipe = watchSupervisorPipe({ get: () => undefined });
  const outcome = await Promise.race([
    pipe.closed.then(() => "closed"),
    new Promise((resolve) => setTimeout(() => resolve("pending"), 0)),
  ]);
  assert.equal(outcome, "pending");
});

Deno.test("a service that cannot start exits 1 with the reason logged", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ECHO, "--port", "0", "--fail-start"],
    stdout: "piped",
    stderr: "piped",
  });
  const output = await child.output();
  assert.equal(output.code, 1);
  assert.match(fromUtf8(output.stderr), /echo failed to start: refusing to start, as asked/);
});

Deno.test("a service logs JSON lines with --log-format json", async () => {
  const svc = await spawnService(["--port", "0", "--log-format", "json"], {
    script: ECHO,
    roles: ["tcp"],
  });
  svc.kill("SIGTERM");
  assert.equal((await svc.exited()).code, 0);
  const record = JSON.parse(svc.lines.find((l) => l.includes("listening"))!);
  assert.equal(record.logger, "underhood.echo");
  assert.equal(record.level, "info");
  assert.equal(record.role, "tcp");
  assert.match(record.message, /^echo listening tcp on 127\.0\.0\.1:\d+$/);
});

Deno.test("startService() runs a service in-process on port 0 and cleans up its data dir", async () => {
  let dataDir: string;
  {
    await using svc = await startService(echoService);
    dataDir = svc.dataDir;
    assert.ok((await Deno.stat(dataDir)).isDirectory);
    assert.notEqual(svc.addresses.tcp.port, 0);
    assert.equal(await echoOnce(svc.addresses.tcp.port, "in-process"), "in-process");
  }
  await assert.rejects(() => Deno.stat(dataDir), Deno.errors.NotFound);
});

Deno.test("formatAddress() brackets IPv6 hosts", () => {
  assert.equal(
    formatAddress({ transport: "tcp", hostname: "127.0.0.1", port: 80 }),
    "127.0.0.1:80",
  );
  assert.equal(formatAddress({ transport: "udp", hostname: "::1", port: 53 }), "[::1]:53");
});

Deno.test("a supervised service ignores SIGINT (its supervisor decides) and stops on SIGTERM", async () => {
  const { child, lines, pump } = spawnSupervisedEcho();
  try {
    await waitForLine(lines, (l) => l.includes("echo listening tcp on"));
    const port = Number(lines.find((l) => l.includes("echo listening tcp on"))!.split(":").pop());
    // A terminal's Ctrl-C reaches the child too; it must keep serving until the
    // supervisor's SIGTERM, or the supervisor could see an exit it did not ask for.
    child.kill("SIGINT");
    assert.equal(await echoOnce(port, "still here"), "still here");
    assert.ok(!lines.some((l) => l.includes("draining")), lines.join("\n"));
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 0, lines.join("\n"));
    assert.ok(lines.some((l) => l.includes("SIGTERM received, draining")), lines.join("\n"));
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.stdin.close().catch(() => {});
    await child.status;
    await pump;
  }
});

/** The echo service as a supervisor starts it: its stdin a pipe we hold, stderr collected. */
function spawnSupervisedEcho() {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ECHO, "--port", "0"],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
    env: { UNDERHOOD_SUPERVISOR_PIPE: "stdin" },
  }).spawn();
  const lines: string[] = [];
  const pump = (async () => {
    let text = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      lines.splice(0, lines.length, ...text.split("\n"));
    }
  })();
  return { child, lines, pump };
}
