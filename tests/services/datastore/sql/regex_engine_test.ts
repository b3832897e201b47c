// The patterns that backtrack exponentially ((a|a)*b on 100 000 a's runs
// for hours in a plain JavaScript RegExp, without returning to the event
// loop) either finish through V8's linear-time engine, in a process started
// with lib/v8_flags.ts's flags, or are refused with 2201B in one without.
// Each mode runs in a child process, killed if it does not finish: a hang
// fails the test instead of stalling the suite.

import assert from "node:assert/strict";
import { V8_FLAGS_ARG } from "../../../../lib/v8_flags.ts";

const PROBE = new URL("./_regex_probe.ts", import.meta.url).pathname;
/** Far beyond the probe's cost either way (well under a second when bounded). */
const HANG_MS = 120_000;

interface Outcome {
  pattern: string;
  matched?: boolean;
  refused?: string;
}

async function probe(denoFlags: string[]): Promise<{ linear: boolean; outcomes: Outcome[] }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...denoFlags, PROBE],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), HANG_MS);
  try {
    const output = await child.output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(
      output.code,
      0,
      `probe exited ${output.code} (killed after ${HANG_MS} ms?) ${stderr}`,
    );
    return JSON.parse(new TextDecoder().decode(output.stdout));
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("with the linear-time engine, exponential patterns are answered", async () => {
  const { linear, outcomes } = await probe([V8_FLAGS_ARG]);
  assert.equal(linear, true);
  for (const outcome of outcomes) {
    assert.deepEqual(outcome, { pattern: outcome.pattern, matched: false });
  }
});

Deno.test("without the linear-time engine, exponential patterns are refused with 2201B", async () => {
  const { linear, outcomes } = await probe([]);
  assert.equal(linear, false);
  for (const outcome of outcomes) {
    assert.deepEqual(outcome, { pattern: outcome.pattern, refused: "2201B" });
  }
});
