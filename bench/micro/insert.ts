// The datastore's work for `pgbench -M prepared` autocommit INSERTs into
// pgbench_history (bench/datastore.ts's insert test), in process and
// without sockets: `--sessions` sessions each hand the Bind, Describe,
// Execute and Sync that libpq sends in one packet to Session.handle, the
// way services/datastore/server.ts does after each read, all at once, and
// wait for their answers (the commits share group-committed fsyncs). Prints
// the CPU time (user + system, from /proc/self/stat) and the wall time per
// insert, and the commits per fsync. Steadier than pgbench on a busy
// machine, and a clean profile target:
//
//   deno run -A bench/micro/insert.ts [--inserts 100000] [--sessions 8] [--no-fsync]
//   deno run -A --cpu-prof bench/micro/insert.ts --no-fsync
//
// `--no-fsync` makes the log's fsyncs no-ops, to see the CPU of the
// statement alone (never a durability setting: only this benchmark has it).
// What it leaves out is the socket: one read and one write per insert.

import { parseArgs } from "node:util";
import { isIncomplete } from "../../lib/decode.ts";
import { type FileHandle, type FileLayer, realFiles } from "../../lib/fs/file_layer.ts";
import { decodeFrontendMessage, encodeFrontendMessage } from "../../lib/pg/frontend.ts";
import { DEFAULT_LIMITS } from "../../lib/pg/types.ts";
import { Database } from "../../services/datastore/sql/executor.ts";
import { Engine } from "../../services/datastore/storage/engine.ts";
import { sessionOn } from "./_pg_session.ts";
import { cpuMicros } from "../_process.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    inserts: { type: "string", default: "100000" },
    sessions: { type: "string", default: "8" },
    "no-fsync": { type: "boolean", default: false },
  },
  strict: true,
});
const INSERTS = Number(values.inserts);
const SESSIONS = Number(values.sessions);

/** A real file whose fsyncs do nothing (`--no-fsync`). */
class NoSyncHandle implements FileHandle {
  #file: FileHandle;
  constructor(file: FileHandle) {
    this.#file = file;
  }
  readAt(into: Uint8Array, position: number): number {
    return this.#file.readAt(into, position);
  }
  writeAt(bytes: Uint8Array, position: number): void {
    this.#file.writeAt(bytes, position);
  }
  sync(): void {}
  syncData(): void {}
  truncate(sizeBytes: number): void {
    this.#file.truncate(sizeBytes);
  }
  size(): number {
    return this.#file.size();
  }
  close(): void {
    this.#file.close();
  }
  [Symbol.dispose](): void {
    this.#file.close();
  }
}
const noSync: FileLayer = {
  ...realFiles,
  open: (path, options) => new NoSyncHandle(realFiles.open(path, options)),
};

const encoder = new TextEncoder();
const dir = await Deno.makeTempDir({ prefix: "underhood-insert-bench-" });
const engine = await Engine.open({ dir, files: values["no-fsync"] ? noSync : realFiles });
const db = await Database.open(engine);

try {
  const sessions: Awaited<ReturnType<typeof sessionOn>>[] = [];
  for (let i = 0; i < SESSIONS; i++) sessions.push(await sessionOn(db, i + 1));
  await sessions[0].run({
    type: "Query",
    sql: "CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, " +
      "mtime timestamp, filler char(22))",
  });
  for (const { run } of sessions) {
    await run({
      type: "Parse",
      statement: "P_0",
      sql: "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) " +
        "VALUES ($1, 1, $2, $3, CURRENT_TIMESTAMP);",
      parameterTypes: [],
    }, { type: "Sync" });
  }

  // One packet per insert, as libpq's PQsendQueryPrepared writes it.
  const PACKETS = 1024;
  const packets: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i < PACKETS; i++) {
    const params = [1 + i % 10, 1 + (i * 7919) % 100_000, (i * 31) % 10_001 - 5000];
    const parts = [
      encodeFrontendMessage({
        type: "Bind",
        portal: "",
        statement: "P_0",
        parameterFormats: [],
        parameters: params.map((p) => encoder.encode(String(p))),
        resultFormats: [],
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
  // BindComplete, NoData, CommandComplete "INSERT 0 1", ReadyForQuery "I".
  const ANSWER_BYTES = 5 + 5 + 16 + 6;

  /** The server's loop over one read: decode and handle every message, then "write". */
  const insert = async (s: (typeof sessions)[number], input: Uint8Array<ArrayBuffer>) => {
    let start = 0;
    while (start < input.length) {
      const decoded = decodeFrontendMessage(input, DEFAULT_LIMITS, start, input.length);
      if (isIncomplete(decoded)) throw new Error("incomplete");
      start += decoded.bytesUsed;
      let effect = s.session.handle(decoded.value, s.out, s.flush);
      if (typeof effect !== "string") effect = await effect;
    }
    if (s.out.length !== ANSWER_BYTES) {
      throw new Error(`not the answer: ${new TextDecoder().decode(s.out.view())}`);
    }
    s.out.reset();
  };
  let next = 0;
  const round = () => Promise.all(sessions.map((s) => insert(s, packets[next++ % PACKETS])));

  for (let i = 0; i < 20_000 / SESSIONS; i++) await round(); // warm up
  const before = engine.stats();
  const cpu0 = cpuMicros(Deno.pid);
  const t0 = performance.now();
  const rounds = Math.ceil(INSERTS / SESSIONS);
  for (let i = 0; i < rounds; i++) await round();
  const wallUs = (performance.now() - t0) * 1000;
  const cpu = cpuMicros(Deno.pid) - cpu0;
  const after = engine.stats();
  const n = rounds * SESSIONS;
  console.log(
    `${n} inserts from ${SESSIONS} sessions${values["no-fsync"] ? ", fsync off" : ""}: ` +
      `${(cpu / n).toFixed(2)} µs CPU, ${(wallUs / n).toFixed(2)} µs wall per insert, ` +
      `${((after.commits - before.commits) / (after.fsyncs - before.fsyncs)).toFixed(1)} ` +
      `commits per fsync`,
  );
} finally {
  await db.close();
  await engine.close();
  await Deno.remove(dir, { recursive: true });
}
