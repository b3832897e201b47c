// The datastore's work for one `pgbench -S -M prepared` transaction, in
// process and without sockets: the Bind, Describe, Execute and Sync that
// libpq sends in one packet are decoded and handled the way
// services/datastore/server.ts does after each read, against a
// pgbench_accounts table of `--rows` rows. Prints the CPU time (user +
// system, from /proc/self/stat) and the wall time per transaction.
// Steadier than pgbench on a busy machine, and a clean profile target:
//
//   deno run -A bench/micro/point_select.ts [--rows 100000] [--transactions 200000]
//   deno run -A --cpu-prof bench/micro/point_select.ts
//
// What it leaves out is the socket: one read and one write per transaction
// (about 11 µs of user and 11 µs of system time on the shared machine,
// measured with a Deno server answering pgbench with canned bytes).

import { parseArgs } from "node:util";
import { isIncomplete } from "../../lib/decode.ts";
import { decodeFrontendMessage, encodeFrontendMessage } from "../../lib/pg/frontend.ts";
import { DEFAULT_LIMITS, type FrontendMessage } from "../../lib/pg/types.ts";
import { MessageWriter } from "../../lib/pg/wire.ts";
import { Session } from "../../services/datastore/session.ts";
import { Database } from "../../services/datastore/sql/executor.ts";
import { Engine } from "../../services/datastore/storage/engine.ts";
import { decodeRid as decodeRidOf } from "../../services/datastore/storage/heap.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "100000" },
    transactions: { type: "string", default: "200000" },
  },
  strict: true,
});
const ROWS = Number(values.rows);
const TRANSACTIONS = Number(values.transactions);

/** utime + stime of this process in µs (Linux: USER_HZ is 100). */
function cpuUs(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

const encoder = new TextEncoder();
const dir = await Deno.makeTempDir({ prefix: "underhood-point-select-" });
const engine = await Engine.open({ dir });
const db = await Database.open(engine);
try {
  const session = new Session({ db, secret: null, processId: 1, secretKey: 1 });
  const out = new MessageWriter();
  const flush = () => {
    out.reset();
    return Promise.resolve();
  };
  await session.startup(new Map([["user", "postgres"]]), out);
  const run = async (...messages: FrontendMessage[]) => {
    for (const message of messages) await session.handle(message, out, flush);
    const text = new TextDecoder().decode(out.view());
    out.reset();
    return text;
  };
  // pgbench -i's table (scale 1: 100 000 rows).
  await run({
    type: "Query",
    sql: "CREATE TABLE pgbench_accounts (aid int NOT NULL PRIMARY KEY, bid int, " +
      "abalance int, filler char(84))",
  });
  for (let first = 1; first <= ROWS; first += 10_000) {
    const last = Math.min(ROWS, first + 9_999);
    await run({
      type: "Query",
      sql:
        `INSERT INTO pgbench_accounts SELECT g, 1, 0, '' FROM generate_series(${first}, ${last}) g`,
    });
  }
  await run({
    type: "Parse",
    statement: "P0_0",
    sql: "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
    parameterTypes: [],
  }, { type: "Sync" });

  // One packet per transaction, as libpq's PQsendQueryPrepared writes it.
  const PACKETS = 1024;
  const packets: Uint8Array[] = [];
  for (let i = 0; i < PACKETS; i++) {
    const aid = 1 + Math.floor(Math.random() * ROWS);
    const parts = [
      encodeFrontendMessage({
        type: "Bind",
        portal: "",
        statement: "P0_0",
        parameterFormats: [],
        parameters: [encoder.encode(String(aid))],
        resultFormats: [0],
      }),
      encodeFrontendMessage({ type: "Describe", kind: "P", name: "" }),
      encodeFrontendMessage({ type: "Execute", portal: "", rowsMax: 0 }),
      encodeFrontendMessage({ type: "Sync" }),
    ];
    const packet = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      packet.set(part, at);
      at += part.length;
    }
    packets.push(packet);
  }
  const check = new TextDecoder().decode(packets[0]);
  if (!check.includes("P0_0")) throw new Error("bad packet");

  /** The server's loop over one read: decode and handle every message, then "write". */
  const transaction = async (input: Uint8Array) => {
    let start = 0;
    while (start < input.length) {
      const decoded = decodeFrontendMessage(
        input as Uint8Array<ArrayBuffer>,
        DEFAULT_LIMITS,
        start,
        input.length,
      );
      if (isIncomplete(decoded)) throw new Error("incomplete");
      start += decoded.bytesUsed;
      let effect = session.handle(decoded.value, out, flush);
      if (typeof effect !== "string") effect = await effect;
    }
    if (out.length === 0) throw new Error("no answer");
    out.reset();
  };
  for (let i = 0; i < 20_000; i++) await transaction(packets[i % PACKETS]); // warm up
  if (Deno.env.get("PARTS")) {
    // Min over rounds of the wall time per iteration of each part.
    const minOf = async (name: string, fn: (i: number) => unknown) => {
      let best = Infinity;
      for (let round = 0; round < 40; round++) {
        const t = performance.now();
        for (let i = 0; i < 2000; i++) await fn(i);
        best = Math.min(best, (performance.now() - t) * 1000 / 2000);
      }
      console.log(`${name.padEnd(28)} ${best.toFixed(2)} µs`);
    };
    const engineName = engine.tables().find((t) => t.name.includes("pgbench_accounts"))?.name ??
      engine.tables().at(-1)!.name;
    console.log(engine.tables().map((t) => t.name).join(" "));
    const tableOf = (engine as unknown as {
      tableNamed(n: string): { get(k: Uint8Array): unknown; pkKey(v: unknown[]): Uint8Array };
    }).tableNamed(engineName);
    const keys = Array.from(
      { length: PACKETS },
      () => tableOf.pkKey([BigInt(1 + Math.floor(Math.random() * ROWS))]),
    );
    await minOf("transaction", (i) => transaction(packets[i % PACKETS]));
    await minOf("decode 4 messages", (i) => {
      const input = packets[i % PACKETS] as Uint8Array<ArrayBuffer>;
      let start = 0;
      while (start < input.length) {
        const d = decodeFrontendMessage(input, DEFAULT_LIMITS, start, input.length);
        if (isIncomplete(d)) throw new Error();
        start += d.bytesUsed;
      }
    });
    await minOf("begin+getNow+commitNow", (i) => {
      const tx = engine.begin();
      tx.getNow(engineName, null, [BigInt(1 + (i * 7919) % ROWS)]);
      tx.commitNow();
    });
    await minOf("table.get", (i) => tableOf.get(keys[i % PACKETS]));
    await minOf("pkKey", (i) => tableOf.pkKey([BigInt(1 + i)]));
    // deno-lint-ignore no-explicit-any
    const t = tableOf as any;
    await minOf("primary.get", (i) => t.primary.get(keys[i % PACKETS]));
    const rids = keys.map((k) => t.primary.get(k));
    await minOf("readRidBytes", (i) => t.readRidBytes(rids[i % PACKETS]));
    await minOf(
      "heap.read",
      (i) =>
        t.heap.read({
          page: t.readRidBytes && decodeRidOf(rids[i % PACKETS]).page,
          slot: decodeRidOf(rids[i % PACKETS]).slot,
        }),
    );
    const tx0 = engine.begin();
    await minOf("begin+commitNow", () => {
      const tx = engine.begin();
      tx.commitNow();
    });
    tx0.commitNow();
  }
  const cpu0 = cpuUs();
  const t0 = performance.now();
  for (let i = 0; i < TRANSACTIONS; i++) await transaction(packets[i % PACKETS]);
  const wallUs = (performance.now() - t0) * 1000;
  const cpu = cpuUs() - cpu0;
  console.log(
    `${TRANSACTIONS} transactions: ${(cpu / TRANSACTIONS).toFixed(2)} µs CPU, ` +
      `${(wallUs / TRANSACTIONS).toFixed(2)} µs wall per transaction`,
  );
} finally {
  await db.close();
  await engine.close();
  await Deno.remove(dir, { recursive: true });
}
