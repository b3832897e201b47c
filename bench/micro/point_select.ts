// The datastore's work for one `pgbench -S -M prepared` transaction, in
// process and without sockets: the Bind, Describe, Execute and Sync that
// libpq sends in one packet are decoded and handled the way
// services/datastore/server.ts does after each read, against a
// pgbench_accounts table of `--rows` rows. Prints the CPU time (user +
// system, from /proc/self/stat) and the wall time per transaction.
// Steadier than pgbench on a busy machine, and a clean profile target:
//
//   deno run -A bench/micro/point_select.ts [--rows 100000] [--transactions 200000]
//     [--checkpoint] [--reopen]
//   deno run -A --cpu-prof bench/micro/point_select.ts
//   PARTS=1 deno run -A bench/micro/point_select.ts   # also the parts, each its best of 40 rounds
//
// Without --reopen the table is read as loaded, its B+tree nodes decoded by
// the writes that filled them (as bench/datastore.ts right after pgbench
// -i); with it the engine is closed and opened again first, so lookups
// read pages in place (a server that has restarted). With --checkpoint, a
// checkpoint is taken after the load, as the server's idle checkpoint does
// (it writes the nodes and drops their decoded form). Loading 100 000 rows
// takes a few seconds.
//
// What it leaves out is the socket: one read and one write per transaction
// (about 11 µs of user and 11 µs of system time on the shared machine,
// measured with a Deno server answering pgbench with canned bytes).

import { parseArgs } from "node:util";
import { isIncomplete } from "../../lib/decode.ts";
import { decodeFrontendMessage, encodeFrontendMessage } from "../../lib/pg/frontend.ts";
import { DEFAULT_LIMITS } from "../../lib/pg/types.ts";
import { Database } from "../../services/datastore/sql/executor.ts";
import { sessionOn } from "./_pg_session.ts";
import { Engine } from "../../services/datastore/storage/engine.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "100000" },
    transactions: { type: "string", default: "200000" },
    reopen: { type: "boolean", default: false },
    checkpoint: { type: "boolean", default: false },
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
const decoder = new TextDecoder();
const dir = await Deno.makeTempDir({ prefix: "underhood-point-select-" });

let engine = await Engine.open({ dir });
let db = await Database.open(engine);
try {
  {
    // pgbench -i's table (scale 1: 100 000 rows).
    const { run } = await sessionOn(db);
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
  }
  // What the server's idle checkpoint does after a load (bench/datastore.ts).
  if (values.checkpoint) engine.checkpoint();
  if (values.reopen) {
    await db.close();
    await engine.close();
    engine = await Engine.open({ dir });
    db = await Database.open(engine);
  }
  const { session, out, flush, run } = await sessionOn(db);
  await run({
    type: "Parse",
    statement: "P0_0",
    sql: "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
    parameterTypes: [],
  }, { type: "Sync" });

  // One packet per transaction, as libpq's PQsendQueryPrepared writes it.
  const PACKETS = 1024;
  const packets: Uint8Array<ArrayBuffer>[] = [];
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

  /** The server's loop over one read: decode and handle every message, then "write". */
  const transaction = async (input: Uint8Array<ArrayBuffer>) => {
    let start = 0;
    while (start < input.length) {
      const decoded = decodeFrontendMessage(input, DEFAULT_LIMITS, start, input.length);
      if (isIncomplete(decoded)) throw new Error("incomplete");
      start += decoded.bytesUsed;
      // As server.ts: the Execute's Sync is in the same packet.
      const syncFollows = decoded.value.type === "Execute" && input[start] === 0x53;
      let effect = session.handle(decoded.value, out, flush, syncFollows);
      if (typeof effect !== "string") effect = await effect;
    }
    if (out.length !== answerBytes) throw new Error("not the answer");
    out.reset();
  };
  // Every answer is as long: BindComplete, RowDescription, DataRow, CommandComplete, ReadyForQuery.
  let answerBytes = -1;
  for (let i = 0; i < 20_000; i++) { // warm up
    if (i === 0) {
      let start = 0;
      while (start < packets[0].length) {
        const decoded = decodeFrontendMessage(packets[0], DEFAULT_LIMITS, start);
        if (isIncomplete(decoded)) throw new Error("incomplete");
        start += decoded.bytesUsed;
        await session.handle(decoded.value, out, flush);
      }
      const answer = decoder.decode(out.view());
      if (!answer.includes("SELECT 1")) throw new Error(`not a row: ${answer}`);
      answerBytes = out.length;
      out.reset();
    }
    await transaction(packets[i % PACKETS]);
  }

  if (Deno.env.get("PARTS")) {
    // The best of 40 rounds of each part: robust to preemption on a busy machine.
    const bestOf = async (name: string, fn: (i: number) => unknown) => {
      let best = Infinity;
      for (let round = 0; round < 40; round++) {
        const t = performance.now();
        for (let i = 0; i < 2000; i++) await fn(i);
        best = Math.min(best, (performance.now() - t) * 1000 / 2000);
      }
      console.log(`${name.padEnd(24)} ${best.toFixed(2)} µs`);
    };
    const table = engine.tables().find((t) => t.id === engine.tables().at(-1)!.id)!.name;
    await bestOf("transaction", (i) => transaction(packets[i % PACKETS]));
    await bestOf("decode 4 messages", (i) => {
      const input = packets[i % PACKETS];
      for (let start = 0; start < input.length;) {
        const decoded = decodeFrontendMessage(input, DEFAULT_LIMITS, start, input.length);
        if (isIncomplete(decoded)) throw new Error("incomplete");
        start += decoded.bytesUsed;
      }
    });
    await bestOf("begin, getNow, commitNow", (i) => {
      const tx = engine.begin();
      tx.getNow(table, null, [BigInt(1 + (i * 7919) % ROWS)]);
      tx.commitNow();
    });
    await bestOf("begin, commitNow", () => engine.begin().commitNow());
  }

  if (Deno.env.get("MARK")) console.error("MEASURE START");
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
