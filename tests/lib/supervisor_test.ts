import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { renderReport, stopInOrder, Supervisor, type SupervisorLog } from "../../lib/supervisor.ts";

const ECHO = fileURLToPath(new URL("../_support/fixtures/echo_service.ts", import.meta.url));

/** Gathers children's lines as "name | line" and the supervisor's reports as "supervisor | ...". */
function collector() {
  const lines: string[] = [];
  const waiters: { test: (l: string) => boolean; resolve: () => void }[] = [];
  const report = (message: string, properties: Record<string, unknown>) =>
    onLine(`supervisor | ${renderReport(message, properties)}`);
  const log: SupervisorLog = { info: report, warning: report, error: report };
  const onLine = (line: string) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  return {
    lines,
    log,
    onOutput: (name: string, line: string) => onLine(`${name} | ${line}`),
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

Deno.test("Supervisor passes on each child's lines under its name", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    { name: "alpha", command: ["sh", "-c", "echo one; echo two >&2; exec sleep 30"] },
    { name: "b", command: ["sh", "-c", "echo three; exec sleep 30"] },
  ], { onOutput: out.onOutput, log: out.log, stopTimeoutMs: 5000 });
  supervisor.start();
  await out.waitFor((l) => l === "alpha | two");
  await out.waitFor((l) => l === "b | three");
  await supervisor.stop();
  assert.ok(out.lines.includes("alpha | one"));
  assert.deepEqual(supervisor.restarts(), { alpha: 0, b: 0 });
});

Deno.test("Supervisor restarts a crashing child with growing backoff, and leaves the others alone", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    { name: "crashy", command: ["sh", "-c", "echo up; exit 3"] },
    { name: "steady", command: ["sh", "-c", "echo steady up; exec sleep 30"] },
  ], {
    onOutput: out.onOutput,
    log: out.log,
    backoffStartMs: 20,
    backoffMsMax: 80,
    stopTimeoutMs: 5000,
  });
  supervisor.start();
  await out.waitFor((l) => l === "steady | steady up");
  const steadyPid = supervisor.pids().steady;
  await out.waitFor((l) => l.includes("crashy exited with code 3; restarting in 80 ms"));
  assert.ok(supervisor.restarts().crashy >= 2);
  assert.equal(supervisor.pids().steady, steadyPid, "the steady child was not restarted");
  assert.ok(out.lines.some((l) => l.includes("restarting in 20 ms")));
  assert.ok(out.lines.some((l) => l.includes("restarting in 40 ms")));
  await supervisor.stop();
});

Deno.test("Supervisor.stop() drains services with SIGTERM and logs each exit status", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    { name: "echo", command: [Deno.execPath(), "run", "-A", ECHO, "--port", "0"] },
  ], { onOutput: out.onOutput, log: out.log });
  supervisor.start();
  await out.waitFor((l) => l.includes("echo listening tcp on"));
  const report = await supervisor.stop();
  assert.ok(out.lines.some((l) => l.includes("SIGTERM received, draining")), out.lines.join("\n"));
  assert.ok(out.lines.some((l) => l.includes("echo stopped")));
  assert.ok(out.lines.includes("supervisor | echo exited with code 0"), out.lines.join("\n"));
  assert.deepEqual(report, { clean: true, exits: { echo: "code 0" } });
  assert.deepEqual(supervisor.pids(), { echo: undefined });
  assert.equal(supervisor.restarts().echo, 0);
  assert.equal(await supervisor.stop(), report, "a second stop() returns the same report");
});

Deno.test("Supervisor.stop() kills a child that ignores SIGTERM after the timeout and says the stop was not clean", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    {
      name: "stubborn",
      command: ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"],
    },
  ], { onOutput: out.onOutput, log: out.log, stopTimeoutMs: 300 });
  supervisor.start();
  await out.waitFor((l) => l === "stubborn | ready");
  const report = await supervisor.stop();
  assert.ok(out.lines.includes("supervisor | stubborn did not stop within 300 ms, killing it"));
  assert.ok(
    out.lines.includes("supervisor | stubborn did not stop cleanly: exited with signal SIGKILL"),
    out.lines.join("\n"),
  );
  assert.deepEqual(report, { clean: false, exits: { stubborn: "signal SIGKILL" } });
});

Deno.test("Supervisor.stop() counts a child that our SIGTERM caught while still starting (no handler yet) as stopped cleanly", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    // Like a Deno service still loading its modules: SIGTERM's default action kills it.
    { name: "starting", command: ["sh", "-c", "echo loading; exec sleep 30"] },
  ], { onOutput: out.onOutput, log: out.log, stopTimeoutMs: 5000 });
  supervisor.start();
  await out.waitFor((l) => l === "starting | loading");
  const report = await supervisor.stop();
  assert.deepEqual(report, { clean: true, exits: { starting: "signal SIGTERM" } });
  assert.ok(
    out.lines.includes("supervisor | starting was stopped while starting (signal SIGTERM)"),
    out.lines.join("\n"),
  );
});

Deno.test("Supervisor reports a child that cannot be started and keeps trying, with backoff", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    { name: "ghost", command: ["/nonexistent/binary"] },
  ], { onOutput: out.onOutput, log: out.log, backoffStartMs: 10, stopTimeoutMs: 1000 });
  supervisor.start();
  await out.waitFor((l) => l.startsWith("supervisor | ghost could not start"));
  await out.waitFor((l) => l.includes("ghost exited with code 127; restarting in 40 ms"));
  assert.ok(supervisor.restarts().ghost >= 2, JSON.stringify(supervisor.restarts()));
  assert.ok(out.lines.some((l) => l.includes("restarting in 10 ms")));
  assert.ok(out.lines.some((l) => l.includes("restarting in 20 ms")));
  assert.ok(out.lines.filter((l) => l.includes("ghost could not start")).length >= 3);
  await supervisor.stop();
});

Deno.test("Supervisor does not restart a child that exits on a bad command line (code 2)", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    { name: "typo", command: ["sh", "-c", "echo 'unknown flag' >&2; exit 2"] },
  ], { onOutput: out.onOutput, log: out.log, backoffStartMs: 10 });
  supervisor.start();
  await out.waitFor((l) =>
    l.includes("typo exited with code 2 (a bad command line); not restarting")
  );
  assert.equal(supervisor.restarts().typo, 0);
  assert.equal(out.lines.filter((l) => l.includes("typo started")).length, 1);
  await supervisor.stop();
});

Deno.test("Supervisor.reload() sends SIGHUP only to the children that reload", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    {
      name: "zones",
      reloads: true,
      command: ["sh", "-c", "trap 'echo reloaded' HUP; echo ready; while true; do sleep 0.1; done"],
    },
    // A child without a SIGHUP handler would die of one.
    { name: "plain", command: ["sh", "-c", "echo ready; exec sleep 30"] },
  ], { onOutput: out.onOutput, log: out.log, stopTimeoutMs: 5000 });
  supervisor.start();
  await out.waitFor((l) => l === "zones | ready");
  await out.waitFor((l) => l === "plain | ready");
  const plainPid = supervisor.pids().plain;
  assert.deepEqual(supervisor.reload(), ["zones"]);
  await out.waitFor((l) => l === "zones | reloaded");
  assert.equal(supervisor.pids().plain, plainPid);
  assert.deepEqual(supervisor.restarts(), { zones: 0, plain: 0 });
  await supervisor.stop();
});

Deno.test("Supervisor gives each child a pipe on stdin, announced in its environment, that only it holds", async () => {
  const out = collector();
  const supervisor = new Supervisor([
    // Prints the variable, then waits for end of file on stdin.
    { name: "a", command: ["sh", "-c", 'echo "pipe=$UNDERHOOD_SUPERVISOR_PIPE"; cat; echo eof'] },
    { name: "b", command: ["sh", "-c", "echo up; exec sleep 30"] },
  ], { onOutput: out.onOutput, log: out.log, stopTimeoutMs: 5000 });
  supervisor.start();
  await out.waitFor((l) => l === "a | pipe=stdin");
  await out.waitFor((l) => l === "b | up");
  // No other child inherited a's pipe: if b held its write end, a could never see EOF.
  const aStdin = Deno.readLinkSync(`/proc/${supervisor.pids().a}/fd/0`);
  assert.match(aStdin, /^pipe:/);
  const bFds = [...Deno.readDirSync(`/proc/${supervisor.pids().b}/fd`)].map((entry) => {
    try {
      return Deno.readLinkSync(`/proc/${supervisor.pids().b}/fd/${entry.name}`);
    } catch {
      return "";
    }
  });
  assert.ok(!bFds.includes(aStdin), `b holds a's stdin pipe: ${bFds.join(" ")}`);
  await supervisor.stop();
});

Deno.test("stopInOrder() restarts no child while it stops the supervisors one after another", async () => {
  // The stack stops its waves last first. A child of an early wave that has
  // just died waits out its backoff meanwhile; it used to be started again
  // during the stop, only to get SIGTERM before it could handle it, and the
  // stop was reported not clean.
  const out = collector();
  const marker = await Deno.makeTempFile({ prefix: "underhood-supervisor-" });
  await Deno.remove(marker);
  const early = new Supervisor([
    {
      name: "crashed",
      // Dies on its first run; would run (and stop cleanly) on a second.
      command: ["sh", "-c", `[ -e ${marker} ] || { touch ${marker}; exit 1; }; exec sleep 30`],
    },
  ], { onOutput: out.onOutput, log: out.log, backoffStartMs: 50, stopTimeoutMs: 5000 });
  const late = new Supervisor([
    {
      name: "slow",
      // Takes a while to drain: longer than the other's backoff.
      command: [
        "sh",
        "-c",
        "trap 'sleep 0.5; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
      ],
    },
  ], { onOutput: out.onOutput, log: out.log, stopTimeoutMs: 5000 });
  try {
    late.start();
    await out.waitFor((l) => l === "slow | ready");
    early.start();
    await out.waitFor((l) => l.includes("crashed exited with code 1; restarting in 50 ms"));
    const report = await stopInOrder([late, early]);
    assert.deepEqual(early.restarts(), { crashed: 0 }, "not started again during the stop");
    assert.deepEqual(report, { clean: true, exits: { slow: "code 0" } });
  } finally {
    await early.stop();
    await late.stop();
    await Deno.remove(marker).catch(() => {});
  }
});
