// Metrics in the Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// A `MetricsRegistry` holds counters, gauges and histograms, each with
// optional labels, and `render()`s them as the text `/metrics` serves. Pure:
// no I/O, no timers, no global registry (each service owns one, so tests
// never see each other's numbers). Left out: summaries, exemplars, the
// OpenMetrics format and timestamps on samples.
//
//   const registry = new MetricsRegistry();
//   const hits = registry.counter("cache_hits_total", "Cache hits.", ["command"]);
//   hits.inc({ command: "GET" });
//   const latency = registry.histogram("op_seconds", "Latency.", { buckets: [0.001, 0.01] });
//   latency.observe({}, 0.004);
//   registry.render(); // "# HELP cache_hits_total Cache hits.\n# TYPE ..."

export type Labels = Readonly<Record<string, string>>;

/** Default histogram buckets in seconds, as the Prometheus client libraries use. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

export interface Counter {
  /** Adds `n` (default 1, never negative). */
  inc(labels?: Labels, n?: number): void;
  /** The current value, for tests. */
  value(labels?: Labels): number;
  /**
   * One label set, checked and formatted once: for hot paths, where
   * building the series key on every `inc` would cost more than the count.
   */
  labels(labels?: Labels): BoundCounter;
}

export interface BoundCounter {
  inc(n?: number): void;
}

export interface Gauge {
  set(labels: Labels | undefined, value: number): void;
  inc(labels?: Labels, n?: number): void;
  dec(labels?: Labels, n?: number): void;
  value(labels?: Labels): number;
}

export interface Histogram {
  observe(labels: Labels | undefined, value: number): void;
  /** Count and sum of the observations, for tests. */
  snapshot(labels?: Labels): { count: number; sum: number };
  /** One label set, checked and formatted once (see Counter.labels). */
  labels(labels?: Labels): BoundHistogram;
}

export interface BoundHistogram {
  observe(value: number): void;
}

export interface HistogramOptions {
  /** Upper bounds, increasing; "+Inf" is added. Default DEFAULT_BUCKETS. */
  buckets?: readonly number[];
  labelNames?: readonly string[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type Kind = "counter" | "gauge" | "histogram";

interface HistogramSeries {
  buckets: number[]; // cumulative counts are computed at render time
  count: number;
  sum: number;
}

class Metric {
  readonly name: string;
  readonly help: string;
  readonly kind: Kind;
  readonly labelNames: readonly string[];
  readonly bounds: readonly number[];
  /** Series keyed by their rendered label set. */
  readonly series = new Map<string, number | HistogramSeries>();

  constructor(
    name: string,
    help: string,
    kind: Kind,
    labelNames: readonly string[],
    bounds: readonly number[],
  ) {
    if (!NAME.test(name)) throw new TypeError(`bad metric name "${name}"`);
    for (const label of labelNames) {
      if (
        !LABEL_NAME.test(label) || label.startsWith("__") ||
        (kind === "histogram" && label === "le")
      ) {
        throw new TypeError(`bad label name "${label}" on ${name}`);
      }
    }
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i] > bounds[i - 1])) throw new RangeError(`${name}: buckets must increase`);
    }
    this.name = name;
    this.help = help;
    this.kind = kind;
    this.labelNames = labelNames;
    this.bounds = bounds;
  }

  /** The `{a="1",b="2"}` text for a label set, checked against the declared names. */
  key(labels: Labels | undefined): string {
    if (this.labelNames.length === 0) {
      if (labels && Object.keys(labels).length > 0) {
        throw new TypeError(`${this.name} has no labels`);
      }
      return "";
    }
    const parts: string[] = [];
    for (const label of this.labelNames) {
      const value = labels?.[label];
      if (value === undefined) throw new TypeError(`${this.name}: missing label "${label}"`);
      parts.push(`${label}="${escapeLabel(value)}"`);
    }
    if (labels && Object.keys(labels).length !== this.labelNames.length) {
      throw new TypeError(`${this.name}: unexpected labels`);
    }
    return parts.join(",");
  }

  add(labels: Labels | undefined, n: number): void {
    const key = this.key(labels);
    this.series.set(key, ((this.series.get(key) as number | undefined) ?? 0) + n);
  }
}

export class MetricsRegistry {
  #metrics = new Map<string, Metric>();
  #collectors: (() => void)[] = [];

  /**
   * Runs `collect` before every render, for values read from elsewhere at
   * scrape time (cache sizes, counters a service keeps itself).
   */
  onCollect(collect: () => void): void {
    this.#collectors.push(collect);
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    const metric = this.#register(new Metric(name, help, "counter", labelNames, []));
    return {
      inc(labels, n = 1) {
        if (!(n >= 0)) throw new RangeError(`${name}: a counter only goes up`);
        metric.add(labels, n);
      },
      value: (labels) => (metric.series.get(metric.key(labels)) as number | undefined) ?? 0,
      labels(labels) {
        const key = metric.key(labels);
        return {
          inc(n = 1) {
            if (!(n >= 0)) throw new RangeError(`${name}: a counter only goes up`);
            metric.series.set(key, ((metric.series.get(key) as number | undefined) ?? 0) + n);
          },
        };
      },
    };
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    const metric = this.#register(new Metric(name, help, "gauge", labelNames, []));
    return {
      set: (labels, value) => void metric.series.set(metric.key(labels), value),
      inc: (labels, n = 1) => metric.add(labels, n),
      dec: (labels, n = 1) => metric.add(labels, -n),
      value: (labels) => (metric.series.get(metric.key(labels)) as number | undefined) ?? 0,
    };
  }

  histogram(name: string, help: string, options: HistogramOptions = {}): Histogram {
    const bounds = options.buckets ?? DEFAULT_BUCKETS;
    const metric = this.#register(
      new Metric(name, help, "histogram", options.labelNames ?? [], bounds),
    );
    const seriesOf = (labels: Labels | undefined): HistogramSeries => {
      const key = metric.key(labels);
      let series = metric.series.get(key) as HistogramSeries | undefined;
      if (series === undefined) {
        series = { buckets: new Array(bounds.length).fill(0), count: 0, sum: 0 };
        metric.series.set(key, series);
      }
      return series;
    };
    const record = (series: HistogramSeries, value: number): void => {
      // Non-cumulative counts per bucket; render() accumulates.
      let i = 0;
      while (i < bounds.length && value > bounds[i]) i++;
      if (i < bounds.length) series.buckets[i]++;
      series.count++;
      series.sum += value;
    };
    return {
      observe: (labels, value) => record(seriesOf(labels), value),
      labels(labels) {
        const series = seriesOf(labels);
        return { observe: (value) => record(series, value) };
      },
      snapshot(labels) {
        const series = metric.series.get(metric.key(labels)) as HistogramSeries | undefined;
        return { count: series?.count ?? 0, sum: series?.sum ?? 0 };
      },
    };
  }

  /** Every metric in the text exposition format 0.0.4, ending with a newline. */
  render(): string {
    for (const collect of this.#collectors) collect();
    const lines: string[] = [];
    for (const metric of this.#metrics.values()) {
      lines.push(`# HELP ${metric.name} ${escapeHelp(metric.help)}`);
      lines.push(`# TYPE ${metric.name} ${metric.kind}`);
      if (
        metric.series.size === 0 && metric.labelNames.length === 0 && metric.kind !== "histogram"
      ) {
        lines.push(`${metric.name} 0`);
      }
      for (const [key, series] of metric.series) {
        if (typeof series === "number") {
          lines.push(`${metric.name}${key ? `{${key}}` : ""} ${formatNumber(series)}`);
          continue;
        }
        let cumulative = 0;
        const prefix = key ? `${key},` : "";
        metric.bounds.forEach((bound, i) => {
          cumulative += series.buckets[i];
          lines.push(`${metric.name}_bucket{${prefix}le="${formatNumber(bound)}"} ${cumulative}`);
        });
        lines.push(`${metric.name}_bucket{${prefix}le="+Inf"} ${series.count}`);
        lines.push(`${metric.name}_sum${key ? `{${key}}` : ""} ${formatNumber(series.sum)}`);
        lines.push(`${metric.name}_count${key ? `{${key}}` : ""} ${series.count}`);
      }
    }
    return lines.length === 0 ? "" : lines.join("\n") + "\n";
  }

  #register(metric: Metric): Metric {
    if (this.#metrics.has(metric.name)) {
      throw new TypeError(`metric "${metric.name}" is already registered`);
    }
    this.#metrics.set(metric.name, metric);
    return metric;
  }
}

/** Brings a counter up to `total`, a count kept elsewhere (for onCollect). */
export function syncCounter(counter: Counter, total: number, labels?: Labels): void {
  const delta = total - counter.value(labels);
  if (delta > 0) counter.inc(labels, delta);
}

/** The content type of `render()`'s output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}
