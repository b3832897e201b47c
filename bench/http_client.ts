// lib/http's HttpClient side by side with Deno's fetch: the same number of
// concurrent keep-alive request loops against one lib/http "hello" server
// (a separate process), each loop sending GET and reading the whole body.
// Prints requests/s for both and the ratio HttpClient/fetch.
//
//   deno run -A bench/http_client.ts [--seconds 5] [--concurrency 50] [--rounds 1]
//
// The client pool keeps as many idle connections as there are loops, so no
// connection is opened after the first round trip. No goal is set for the
// client; the load balancer's issue will set one.

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { HttpClient } from "../lib/http/client.ts";
import { startTarget } from "./http.ts";

const HTTP_BENCH = fileURLToPath(new URL("./http.ts", import.meta.url));
const SERVER = {
  name: "lib/http",
  command: Deno.execPath(),
  args: ["run", "-A", HTTP_BENCH, "--serve", "ours"],
};

type Send = (url: string) => Promise<number>;

async function measure(send: Send, url: string, seconds: number, concurrency: number) {
  let count = 0;
  const deadline = performance.now() + seconds * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      await send(url);
      count++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return count / seconds;
}

async function main(): Promise<void> {
  const args = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "5" },
      concurrency: { type: "string", default: "50" },
      rounds: { type: "string", default: "1" },
    },
    strict: true,
  }).values;
  const seconds = Number(args.seconds);
  const concurrency = Number(args.concurrency);
  const { port, child } = await startTarget(SERVER);
  const url = `http://127.0.0.1:${port}/`;
  const client = new HttpClient({ idlePerOriginMax: concurrency });
  const ours: Send = async (target) => (await (await client.request(target)).bytes()).length;
  const fetched: Send = async (target) => (await (await fetch(target)).bytes()).length;
  try {
    // Warm-up: connections opened, JITs compiled.
    await measure(ours, url, 1, concurrency);
    await measure(fetched, url, 1, concurrency);
    for (let round = 1; round <= Number(args.rounds); round++) {
      const a = await measure(ours, url, seconds, concurrency);
      const b = await measure(fetched, url, seconds, concurrency);
      console.log(
        `round ${round}: HttpClient ${a.toFixed(0)} req/s, fetch ${b.toFixed(0)} req/s, ` +
          `HttpClient/fetch ${(a / b).toFixed(2)}`,
      );
    }
  } finally {
    await client.close();
    child.kill("SIGTERM");
    await child.status;
  }
}

if (import.meta.main) await main();
