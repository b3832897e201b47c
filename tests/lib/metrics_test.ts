// MetricsRegistry renders the Prometheus text exposition format 0.0.4:
// HELP and TYPE lines, escaped label values, cumulative histogram buckets
// with +Inf, _sum and _count.

import assert from "node:assert/strict";
import { MetricsRegistry } from "../../lib/metrics.ts";

Deno.test({
  name: "MetricsRegistry renders counters, gauges and histograms with labels",
  permissions: "none",
  fn() {
    const registry = new MetricsRegistry();
    const requests = registry.counter("requests_total", "Requests.", ["code"]);
    requests.inc({ code: "200" });
    requests.inc({ code: "200" }, 2);
    requests.inc({ code: 'a"b\\c\nd' });
    const open = registry.gauge("open_connections", "Open connections.");
    open.set(undefined, 5);
    open.dec();
    const latency = registry.histogram("latency_seconds", "Latency.\nSecond line.", {
      buckets: [0.1, 1],
      labelNames: ["op"],
    });
    latency.observe({ op: "get" }, 0.05);
    latency.observe({ op: "get" }, 0.5);
    latency.observe({ op: "get" }, 3);
    assert.equal(
      registry.render(),
      [
        "# HELP requests_total Requests.",
        "# TYPE requests_total counter",
        'requests_total{code="200"} 3',
        'requests_total{code="a\\"b\\\\c\\nd"} 1',
        "# HELP open_connections Open connections.",
        "# TYPE open_connections gauge",
        "open_connections 4",
        "# HELP latency_seconds Latency.\\nSecond line.",
        "# TYPE latency_seconds histogram",
        'latency_seconds_bucket{op="get",le="0.1"} 1',
        'latency_seconds_bucket{op="get",le="1"} 2',
        'latency_seconds_bucket{op="get",le="+Inf"} 3',
        'latency_seconds_sum{op="get"} 3.55',
        'latency_seconds_count{op="get"} 3',
        "",
      ].join("\n"),
    );
    assert.equal(requests.value({ code: "200" }), 3);
    assert.deepEqual(latency.snapshot({ op: "get" }), { count: 3, sum: 3.55 });
  },
});

Deno.test({
  name:
    "MetricsRegistry rejects bad names, missing labels, duplicate metrics and decreasing counters",
  permissions: "none",
  fn() {
    const registry = new MetricsRegistry();
    assert.throws(() => registry.counter("bad-name", "x"), TypeError);
    const c = registry.counter("c_total", "x", ["a"]);
    assert.throws(() => c.inc({}), TypeError);
    assert.throws(() => c.inc({ a: "1", b: "2" }), TypeError);
    assert.throws(() => c.inc({ a: "1" }, -1), RangeError);
    assert.throws(() => registry.gauge("c_total", "again"), TypeError);
    assert.throws(() => registry.histogram("h", "x", { buckets: [1, 1] }), RangeError);
    assert.throws(() => registry.histogram("h2", "x", { labelNames: ["le"] }), TypeError);
  },
});

Deno.test("bound label sets count into the same series as inc and observe", () => {
  const registry = new MetricsRegistry();
  const requests = registry.counter("req_total", "Requests.", ["method", "status"]);
  const latency = registry.histogram("req_seconds", "Latency.", {
    labelNames: ["method"],
    buckets: [0.1, 1],
  });
  const getOk = requests.labels({ method: "GET", status: "200" });
  getOk.inc();
  getOk.inc(2);
  requests.inc({ method: "GET", status: "200" });
  assert.equal(requests.value({ method: "GET", status: "200" }), 4);
  const getLatency = latency.labels({ method: "GET" });
  getLatency.observe(0.05);
  latency.observe({ method: "GET" }, 0.5);
  assert.deepEqual(latency.snapshot({ method: "GET" }), { count: 2, sum: 0.55 });
  assert.match(registry.render(), /req_seconds_bucket\{method="GET",le="0.1"\} 1\n/);
  assert.match(registry.render(), /req_seconds_bucket\{method="GET",le="1"\} 2\n/);
  // Labels are checked when bound, not on every count.
  assert.throws(() => requests.labels({ method: "GET" }), TypeError);
  assert.throws(() => getOk.inc(-1), RangeError);
});
