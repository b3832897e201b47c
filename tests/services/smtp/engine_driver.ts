// Runs a transcript (transcripts.ts) against the pure engine: no socket, no
// disk; the store effect keeps messages in memory.

import assert from "node:assert/strict";
import { type Bytes, concat, fromUtf8, utf8 } from "../../../lib/bytes.ts";
import { DEFAULT_COMMAND_LIMITS } from "../../../lib/smtp/command.ts";
import { type BodySink, SmtpEngine } from "../../../services/smtp/engine.ts";
import { greeting, newSession } from "../../../services/smtp/session.ts";
import { formatReply } from "../../../lib/smtp/reply.ts";
import { TEST_CONFIG, type Transcript } from "./transcripts.ts";

/** A sink keeping the body in memory. */
export class MemorySink implements BodySink {
  parts: Bytes[] = [];
  begin(): void {
    this.parts = [];
  }
  write(bytes: Bytes): void {
    this.parts.push(bytes.slice());
  }
  discard(): void {
    this.parts = [];
  }
}

export function runOnEngine(transcript: Transcript): string[] {
  const config = { ...TEST_CONFIG, ...transcript.config };
  const sink = new MemorySink();
  const engine = new SmtpEngine(config, newSession("127.0.0.1", { trusted: transcript.trusted }), {
    sink,
    limits: DEFAULT_COMMAND_LIMITS,
  });
  const storedMessages: string[] = [];
  let pendingOutput = formatReply(greeting(config));
  let closed = false;
  const lines = (): string[] => {
    const all = pendingOutput.split("\r\n");
    pendingOutput = all.pop() ?? "";
    return all;
  };
  let unread: string[] = lines().slice(1);
  for (const step of transcript.steps) {
    if ("c" in step) {
      assert.ok(!closed, `${transcript.name}: sending after close`);
      const input = utf8(step.c);
      let at = 0;
      while (true) {
        const result = engine.feed(input, at, input.length);
        at += result.bytesUsed;
        pendingOutput += result.output;
        const pending = result.pending;
        if (pending === undefined) break;
        if (pending.kind === "close") {
          closed = true;
          break;
        }
        if (pending.kind === "store") {
          const to = pending.envelope.recipients.map((r) => r.address).join(",");
          storedMessages.push(`${pending.envelope.from} -> ${to}: ${fromUtf8(concat(sink.parts))}`);
          pendingOutput += engine.stored({ ok: true, id: String(storedMessages.length) });
        }
      }
      unread.push(...lines());
    } else {
      for (const expected of step.s) {
        const line = unread.shift();
        assert.ok(line !== undefined, `${transcript.name}: no reply line for ${expected}`);
        assert.ok(line.startsWith(expected), `${transcript.name}: ${line} for ${expected}`);
      }
    }
  }
  assert.deepEqual(unread, [], `${transcript.name}: replies left unread`);
  unread = [];
  return storedMessages;
}
