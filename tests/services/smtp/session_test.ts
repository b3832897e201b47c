// The scripted transcripts (transcripts.ts) against the pure engine and
// session: no socket, no disk.

import assert from "node:assert/strict";
import { TRANSCRIPTS } from "./transcripts.ts";
import { runOnEngine } from "./engine_driver.ts";

for (const transcript of TRANSCRIPTS) {
  Deno.test({
    name: `session: ${transcript.name}`,
    permissions: "none",
    fn() {
      const stored = runOnEngine(transcript);
      assert.deepEqual(stored, transcript.stored ?? []);
    },
  });
}
