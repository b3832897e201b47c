import assert from "node:assert/strict";
import { prefixOf, ResponseRateLimiter } from "../../../services/dns/rrl.ts";

const pure = { permissions: "none" } as const;

Deno.test("sources are counted per IPv4 /24 and IPv6 /56", pure, () => {
  assert.equal(prefixOf("127.0.0.1"), prefixOf("127.0.0.254"));
  assert.notEqual(prefixOf("127.0.0.1"), prefixOf("127.0.1.1"));
  assert.equal(prefixOf("2001:db8:0:1ff::1"), prefixOf("2001:db8:0:1aa::2"));
  assert.notEqual(prefixOf("2001:db8:0:1ff::1"), prefixOf("2001:db8:0:2ff::1"));
});

Deno.test("a burst past the rate is dropped, every slip-th one truncated", pure, () => {
  const rrl = new ResponseRateLimiter({ responsesPerSecond: 3, slip: 2 });
  const decisions = Array.from({ length: 8 }, () => rrl.check("127.0.0.1", 1000));
  assert.deepEqual(decisions, ["send", "send", "send", "drop", "slip", "drop", "slip", "drop"]);
  assert.equal(rrl.check("127.0.1.1", 1000), "send", "another /24 has its own bucket");
  assert.equal(rrl.check("127.0.0.9", 1000 + 400), "send", "tokens come back with time");
  assert.notEqual(rrl.check("127.0.0.9", 1000 + 400), "send");
});

Deno.test("a rate of 0 turns limiting off", pure, () => {
  const rrl = new ResponseRateLimiter({ responsesPerSecond: 0 });
  assert.equal(rrl.enabled, false);
  for (let i = 0; i < 1000; i++) assert.equal(rrl.check("127.0.0.1", 0), "send");
});

Deno.test("memory stays bounded: the least recently seen source is forgotten", pure, () => {
  const rrl = new ResponseRateLimiter({ responsesPerSecond: 1, entriesMax: 100 });
  for (let i = 0; i < 10_000; i++) rrl.check(`10.${i >> 8 & 0xff}.${i & 0xff}.1`, 0);
  assert.equal(rrl.size, 100);
  rrl.check("127.0.0.1", 0);
  assert.equal(rrl.check("127.0.0.1", 0), "drop");
});

Deno.test("loopback can be exempted", pure, () => {
  const rrl = new ResponseRateLimiter({ responsesPerSecond: 1, slip: 0, exemptLoopback: true });
  for (let i = 0; i < 10; i++) assert.equal(rrl.check("127.0.0.1", 0), "send");
  assert.equal(rrl.check("::1", 0), "send");
  assert.equal(rrl.check("10.0.0.1", 0), "send");
  assert.equal(rrl.check("10.0.0.1", 0), "drop");
});
