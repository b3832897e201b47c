import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Supervisor } from "../../lib/supervisor.ts";

const ECHO = fileURLToPath(new URL("../_support/fixtures/echo_service.ts", import.meta.url));

function collector() {
  const lines: string[] = [];
  const waiters: { test: (l: string) => boolean; resolve: () => void }[] = [];
  return {
    lines,
    onLine(line: string) {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    },
    waitFor(test: (line: string) => boolean, timeoutMs = 20_000): Promise<void> {
      if (lines.some(test)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out; saw:\n${lines.join("\n")}`)),
          timeoutMs,
        );
        waiters.push({ test, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
}

Deno.test("Supervisor prefixes each child's lines with its name", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    { name: "alpha", command: ["sh", "-c", "echo one; echo two >&2; exec sleep 30"] },
    { name: "b", command: ["sh", "-c", "echo three; exec sleep 30"] },
  ], { onLine: out.onLine, stopTimeoutMs: 5000 });
  supervisor.start();
  await out.waitFor((l) => l === "alpha | two");
  await out.waitFor((l) => l === "b     | three");
  await supervisor.stop();
  assert.ok(out.lines.includes("alpha | one"));
  assert.deepEqual(supervisor.restarts(), { alpha: 0, b: 0 });
});

Deno.test("Supervisor restarts a crashing child with growing backoff, and leaves the others alone", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    { name: "crashy", command: ["sh", "-c", "echo up; exit 3"] },
    { name: "steady", command: ["sh", "-c", "echo steady up; exec sleep 30"] },
  ], { onLine: out.onLine, backoffStartMs: 20, backoffMaxMs: 80, stopTimeoutMs: 5000 });
  supervisor.start();
  const steadyPid = await (async () => {
    await out.waitFor((l) => l === "steady | steady up");
    return supervisor.pids().steady;
  })();
  await out.waitFor((l) => l.includes("crashy | exited with code 3; restarting in 80 ms"));
  assert.ok(supervisor.restarts().crashy >= 2);
  assert.equal(supervisor.pids().steady, steadyPid, "the steady child was not restarted");
  assert.ok(out.lines.some((l) => l.includes("restarting in 20 ms")));
  assert.ok(out.lines.some((l) => l.includes("restarting in 40 ms")));
  await supervisor.stop();
});

Deno.test("Supervisor.stop() drains services with SIGTERM", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    { name: "echo", command: [Deno.execPath(), "run", "-A", ECHO, "--port", "0"] },
  ], { onLine: out.onLine });
  supervisor.start();
  await out.waitFor((l) => l.includes("echo listening tcp on"));
  await supervisor.stop();
  assert.ok(out.lines.some((l) => l.includes("SIGTERM received, draining")), out.lines.join("\n"));
  assert.ok(out.lines.some((l) => l.includes("echo stopped")));
  assert.deepEqual(supervisor.pids(), { echo: undefined });
  assert.equal(supervisor.restarts().echo, 0);
});

Deno.test("Supervisor.stop() kills a child that ignores SIGTERM after the timeout", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    {
      name: "stubborn",
      command: ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"],
    },
  ], { onLine: out.onLine, stopTimeoutMs: 300 });
  supervisor.start();
  await out.waitFor((l) => l === "stubborn | ready");
  await supervisor.stop();
  assert.ok(out.lines.includes("stubborn | did not stop in time, killing"));
});

Deno.test("Supervisor reports a child that cannot be started and keeps trying", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    { name: "ghost", command: ["/nonexistent/binary"] },
  ], { onLine: out.onLine, backoffStartMs: 10, stopTimeoutMs: 1000 });
  supervisor.start();
  await out.waitFor((l) => l.startsWith("ghost | could not start"));
  await out.waitFor((l) => l.includes("exited with code 127"));
  await supervisor.stop();
});
