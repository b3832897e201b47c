import assert from "node:assert/strict";
import { MetricsRegistry, syncCounter } from "../../lib/metrics.ts";

Deno.test("MetricsRegistry.onCollect() refreshes values at every render", () => {
  const registry = new MetricsRegistry();
  const gauge = registry.gauge("things", "things held");
  const counter = registry.counter("events_total", "events seen", ["kind"]);
  let things = 3;
  let events = 5;
  registry.onCollect(() => {
    gauge.set(undefined, things);
    syncCounter(counter, events, { kind: "a" });
  });
  assert.match(registry.render(), /^things 3$/m);
  assert.match(registry.render(), /^events_total\{kind="a"\} 5$/m);
  things = 7;
  events = 9;
  const text = registry.render();
  assert.match(text, /^things 7$/m);
  assert.match(text, /^events_total\{kind="a"\} 9$/m);
});

Deno.test("syncCounter() never moves a counter down", () => {
  const registry = new MetricsRegistry();
  const counter = registry.counter("c_total", "c");
  syncCounter(counter, 10);
  syncCounter(counter, 4);
  assert.equal(counter.value(), 10);
});
