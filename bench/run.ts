// `deno task bench [name...]`: runs the side-by-side benchmarks one after
// the other with their default arguments, output as they print it. With
// names, only those (e.g. `deno task bench http dns`). Each benchmark's own
// flags are in its header; figures go to docs/benchmarks.md with the
// command that produced them. Never part of the test suite.

import { fileURLToPath } from "node:url";

/** Benchmark name -> what it compares. */
const BENCHMARKS: Record<string, string> = {
  http: "lib/http vs Deno.serve vs node:http (wrk)",
  http_client: "lib/http HttpClient vs fetch",
  lb: "lb vs nginx vs HAProxy (wrk)",
  dns: "dns vs NSD (dnsperf)",
  resolver: "resolver vs Unbound (dnsperf)",
  cache: "cache vs redis-server (redis-benchmark)",
  storage: "storage engine vs SQLite",
  mq: "mq vs RabbitMQ's STOMP plugin (same STOMP load generator)",
  objects: "objects vs MinIO (S3 PUT/GET, 4 KiB and 1 MiB)",
  stack: "the whole spells stack through the lb (wrk: GET cache hit, POST), CPU share per service",
};

const chosen = Deno.args.length > 0 ? Deno.args : Object.keys(BENCHMARKS);
const unknown = chosen.filter((name) => !(name in BENCHMARKS));
if (unknown.length > 0) {
  console.error(
    `unknown benchmark ${unknown.join(", ")}; known: ${Object.keys(BENCHMARKS).join(" ")}`,
  );
  Deno.exit(2);
}

let failed = 0;
for (const name of chosen) {
  console.log(`\n== ${name}: ${BENCHMARKS[name]}`);
  const script = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) {
    console.error(`${name} exited with ${code}`);
    failed++;
  }
}
Deno.exit(failed === 0 ? 0 : 1);
