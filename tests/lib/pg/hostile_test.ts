// Bytes polite clients never send (docs/architecture.md habit 9): seeded random
// corruptions of every captured message. Each decoder must answer with a
// message, "incomplete", or a DecodeError/LimitError, and nothing else: no
// TypeError from a read past the end, no RangeError from a huge allocation.

import assert from "node:assert/strict";
import { type Bytes, fromHex } from "../../../lib/bytes.ts";
import { DecodeError, LimitError } from "../../../lib/errors.ts";
import { decodeBackendMessage } from "../../../lib/pg/backend.ts";
import { decodeFrontendMessage, decodeStartupPacket } from "../../../lib/pg/frontend.ts";
import { DEFAULT_LIMITS } from "../../../lib/pg/types.ts";
import { NODE_PG_SESSION, PSQL_SESSION } from "./fixtures/captured.ts";

/** Pure code: these tests need no permission at all (docs/architecture.md habit 1). */
const pure = { permissions: "none" } as const;

/** A small deterministic generator (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(bytes: Bytes, next: () => number): Bytes {
  const out = new Uint8Array(bytes);
  const flips = 1 + Math.floor(next() * 4);
  for (let i = 0; i < flips; i++) {
    const at = Math.floor(next() * out.length);
    // Half the time a boundary value, which finds length and count bugs.
    out[at] = next() < 0.5
      ? [0x00, 0xff, 0x7f, 0x80][Math.floor(next() * 4)]
      : Math.floor(next() * 256);
  }
  const cut = next() < 0.2 ? Math.floor(next() * out.length) : out.length;
  return out.subarray(0, cut);
}

type Decoder = (buf: Bytes, limits: typeof DEFAULT_LIMITS) => unknown;

Deno.test(
  "corrupted messages decode, wait for more, or throw a DecodeError/LimitError",
  pure,
  () => {
    const samples: Array<[Decoder, string]> = [];
    for (const session of [PSQL_SESSION, NODE_PG_SESSION]) {
      for (const hex of session.frontend) {
        const label = hex.split("\n")[0];
        const decode = /Request|StartupMessage/.test(label)
          ? decodeStartupPacket
          : decodeFrontendMessage;
        samples.push([decode as Decoder, hex]);
      }
      for (const hex of session.backend) samples.push([decodeBackendMessage as Decoder, hex]);
    }
    const next = random(20261202);
    let thrown = 0;
    const ROUNDS = 200; // per sample: about 40000 decodes in all
    for (const [decode, hex] of samples) {
      const bytes = fromHex(hex);
      for (let round = 0; round < ROUNDS; round++) {
        const input = mutate(bytes, next);
        try {
          decode(input, DEFAULT_LIMITS);
        } catch (error) {
          thrown++;
          assert.ok(
            error instanceof DecodeError || error instanceof LimitError,
            `${hex.split("\n")[0]} mutated to ${
              Array.from(input, (b) => b.toString(16)).join(" ")
            }: ${error}`,
          );
        }
      }
    }
    assert.ok(thrown > 0, "the corruptions never produced an error: the test tests nothing");
  },
);
