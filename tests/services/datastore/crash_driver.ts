// Workload driver for crash_test.ts, run as a subprocess:
//   deno run -A crash_driver.ts <dir> <txIdBase> <seed>
// Opens the engine (recovering whatever the last kill left), then runs
// transactions from four concurrent workers until killed. Each transaction
// changes `items` (insert, update, delete, sometimes a value long enough for
// an overflow chain), moves money between two `accounts` (the total stays
// 10000), and inserts its own marker row. It prints, synchronously:
//   commit N     before calling commit()
//   ack N        once commit() resolved (durable)
//   rollback N   after a deliberate rollback
//   abort N      after a deadlock or lock timeout rolled it back
// A small buffer pool and log bound force checkpoints in the middle of work.

import { Engine } from "../../../services/datastore/storage/engine.ts";

const [dir, baseText, seedText] = Deno.args;
let seed = Number(seedText) >>> 0 || 1;
function random(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
}
const int = (n: number) => Math.floor(random() * n);
const encoder = new TextEncoder();
const say = (line: string) => {
  const bytes = encoder.encode(line + "\n");
  let at = 0;
  while (at < bytes.length) at += Deno.stdout.writeSync(bytes.subarray(at));
};

const engine = await Engine.open({
  dir,
  bufferPoolPages: 48,
  walCheckpointBytes: 512 * 1024,
  lockTimeoutMs: 2000,
});
if (!engine.tables().some((t) => t.name === "markers")) {
  const tx = engine.begin();
  await tx.createTable({
    name: "markers",
    columns: [{ name: "id", type: "int64" }],
    primaryKey: ["id"],
  });
  await tx.createTable({
    name: "items",
    columns: [
      { name: "k", type: "int64" },
      { name: "v", type: "int64" },
      { name: "tx", type: "int64" },
      { name: "pad", type: "text" },
      { name: "tag", type: "text" },
    ],
    primaryKey: ["k"],
    indexes: [{ name: "items_v", columns: ["v", "tx"] }, {
      name: "items_tag",
      columns: ["tag"],
      unique: true,
    }],
  });
  await tx.createTable({
    name: "accounts",
    columns: [{ name: "id", type: "int64" }, { name: "balance", type: "int64" }],
    primaryKey: ["id"],
  });
  for (let i = 0n; i < 10n; i++) await tx.insert("accounts", [i, 1000n]);
  await tx.commit();
}
say("ready");

let nextId = Number(baseText);

async function oneTransaction(): Promise<void> {
  const id = nextId++;
  const tx = engine.begin();
  try {
    for (let op = 0, ops = 1 + int(5); op < ops; op++) {
      const k = BigInt(int(400));
      const existing = await tx.get("items", [k]);
      const pad = int(20) === 0 ? "p".repeat(3000 + int(20000)) : "p".repeat(int(200));
      const row = [k, BigInt(int(50)), BigInt(id), pad, `tag${k}`];
      if (!existing) await tx.insert("items", row);
      else if (int(3) === 0) await tx.delete("items", [k]);
      else await tx.update("items", [k], row);
    }
    const from = BigInt(int(10)), to = BigInt(int(10));
    const amount = BigInt(int(50));
    const a = (await tx.get("accounts", [from]))!;
    await tx.update("accounts", [from], [from, (a[1] as bigint) - amount]);
    const b = (await tx.get("accounts", [to]))!;
    await tx.update("accounts", [to], [to, (b[1] as bigint) + amount]);
    await tx.insert("markers", [BigInt(id)]);
    if (int(10) === 0) {
      await tx.rollback();
      say(`rollback ${id}`);
      return;
    }
    say(`commit ${id}`);
    await tx.commit();
    say(`ack ${id}`);
  } catch (error) {
    if (tx.state === "open") await tx.rollback();
    say(`abort ${id} ${(error as Error).name}`);
  }
}

async function worker(): Promise<void> {
  for (;;) await oneTransaction();
}

await Promise.all([worker(), worker(), worker(), worker()]);
