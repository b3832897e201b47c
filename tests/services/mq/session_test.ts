// The pure session (STYLE.md habit 6): scripted frames in, frames and
// effects out, no socket.

import assert from "node:assert/strict";
import { headerOf, makeFrame } from "../../../lib/stomp/types.ts";
import {
  DEFAULT_SESSION_LIMITS,
  newSession,
  type SessionConfig,
  sessionStep,
} from "../../../services/mq/session.ts";

const CONFIG: SessionConfig = {
  heartBeatMinMs: 1000,
  serverName: "test",
  sessionId: "s1",
  limits: { ...DEFAULT_SESSION_LIMITS, transactionFramesMax: 2 },
};

function connected() {
  const state = newSession();
  const step = sessionStep(
    state,
    makeFrame("CONNECT", { "accept-version": "1.1,1.2", "heart-beat": "500,20000" }),
    CONFIG,
  );
  assert.equal(step.frames[0].command, "CONNECTED");
  return { state, step };
}

Deno.test({
  name: "session: CONNECT negotiates the version and heart-beats (floored at the minimum)",
  permissions: "none",
  fn() {
    const { state, step } = connected();
    assert.equal(state.version, "1.2");
    assert.equal(headerOf(step.frames[0], "heart-beat"), "20000,1000");
    assert.deepEqual(step.effects, [{
      kind: "heart-beat",
      sendEveryMs: 20000,
      expectEveryMs: 1000,
    }]);
  },
});

Deno.test({
  name: "session: a frame before CONNECT is an ERROR that closes",
  permissions: "none",
  fn() {
    const step = sessionStep(newSession(), makeFrame("SEND", { receipt: "7" }), CONFIG);
    assert.equal(step.frames[0].command, "ERROR");
    assert.equal(headerOf(step.frames[0], "receipt-id"), "7");
    assert.equal(step.close, true);
  },
});

Deno.test({
  name: "session: SEND keeps user headers and drops the frame's own; the receipt waits",
  permissions: "none",
  fn() {
    const { state } = connected();
    const step = sessionStep(
      state,
      makeFrame("SEND", {
        destination: "/queue/a",
        receipt: "r1",
        "content-length": "2",
        "content-type": "text/plain",
        custom: "x",
      }, "hi"),
      CONFIG,
    );
    assert.equal(step.receipt, "r1");
    assert.equal(step.frames.length, 0);
    const effect = step.effects[0];
    assert.equal(effect.kind, "send");
    if (effect.kind === "send") {
      assert.deepEqual(effect.publish.headers, [["content-type", "text/plain"], ["custom", "x"]]);
      assert.deepEqual(effect.publish.destination, { kind: "queue", name: "a" });
    }
  },
});

Deno.test({
  name: "session: a transaction buffers SEND and ACK until COMMIT, within its bound",
  permissions: "none",
  fn() {
    const { state } = connected();
    assert.deepEqual(
      sessionStep(state, makeFrame("BEGIN", { transaction: "t" }), CONFIG).effects,
      [],
    );
    const send = sessionStep(
      state,
      makeFrame("SEND", { destination: "/queue/a", transaction: "t" }),
      CONFIG,
    );
    assert.deepEqual(send.effects, []);
    sessionStep(state, makeFrame("ACK", { id: "5", transaction: "t" }), CONFIG);
    const commit = sessionStep(state, makeFrame("COMMIT", { transaction: "t" }), CONFIG);
    assert.deepEqual(commit.effects.map((e) => e.kind), ["send", "ack"]);
    sessionStep(state, makeFrame("BEGIN", { transaction: "u" }), CONFIG);
    for (let i = 0; i < 2; i++) {
      sessionStep(state, makeFrame("SEND", { destination: "/queue/a", transaction: "u" }), CONFIG);
    }
    const over = sessionStep(
      state,
      makeFrame("SEND", { destination: "/queue/a", transaction: "u" }),
      CONFIG,
    );
    assert.equal(over.frames[0].command, "ERROR");
    assert.equal(over.close, true);
  },
});

Deno.test({
  name: "session: ACK needs the id header each version uses",
  permissions: "none",
  fn() {
    const { state } = connected();
    const bad = sessionStep(state, makeFrame("ACK", { "message-id": "5" }), CONFIG);
    assert.equal(bad.frames[0].command, "ERROR", "1.2 acknowledges by id");
    const old = newSession();
    sessionStep(old, makeFrame("CONNECT", { "accept-version": "1.1" }), CONFIG);
    const ok = sessionStep(old, makeFrame("ACK", { "message-id": "5", subscription: "s" }), CONFIG);
    assert.deepEqual(ok.effects, [{ kind: "ack", id: "5", subscription: "s" }]);
  },
});

Deno.test({
  name: "session: DISCONNECT closes after its receipt",
  permissions: "none",
  fn() {
    const { state } = connected();
    const step = sessionStep(state, makeFrame("DISCONNECT", { receipt: "bye" }), CONFIG);
    assert.equal(step.receipt, "bye");
    assert.equal(step.close, true);
  },
});

Deno.test({
  name: "session: open transactions are bounded in body bytes too",
  permissions: "none",
  fn() {
    const state = newSession();
    const config = { ...CONFIG, limits: { ...CONFIG.limits, transactionBytesMax: 10 } };
    sessionStep(state, makeFrame("CONNECT", { "accept-version": "1.2" }), config);
    sessionStep(state, makeFrame("BEGIN", { transaction: "t" }), config);
    const fits = sessionStep(
      state,
      makeFrame("SEND", { destination: "/queue/a", transaction: "t" }, "12345678"),
      config,
    );
    assert.equal(fits.frames.length, 0);
    const over = sessionStep(
      state,
      makeFrame("SEND", { destination: "/queue/a", transaction: "t" }, "abc"),
      config,
    );
    assert.equal(over.frames[0].command, "ERROR");
    assert.match(headerOf(over.frames[0], "message") ?? "", /10 body bytes/);
  },
});
