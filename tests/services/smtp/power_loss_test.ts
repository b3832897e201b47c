// Nothing acknowledged is lost: messages go through the pure engine into the
// Maildir store on the simulated power-loss disk (tests/_support/
// power_loss_fs.ts); the power goes at every disk operation of the run in
// turn, under each loss mode, and every message the client saw 250 for must
// be whole in its recipients' new/ after the cut. The same check on a disk
// that skips directory fsyncs must find a loss: the test can see one.

import assert from "node:assert/strict";
import { fromUtf8, utf8 } from "../../../lib/bytes.ts";
import type { FileLayer } from "../../../lib/fs/file_layer.ts";
import { DEFAULT_COMMAND_LIMITS } from "../../../lib/smtp/command.ts";
import { SmtpEngine } from "../../../services/smtp/engine.ts";
import { type Envelope, newSession } from "../../../services/smtp/session.ts";
import { MailStore } from "../../../services/smtp/store.ts";
import {
  type LossMode,
  PowerLoss,
  seededRandom,
  SimulatedDisk,
} from "../../_support/power_loss_fs.ts";
import { TEST_CONFIG } from "./transcripts.ts";

const MESSAGES = 4;
const RECIPIENTS = ["alice@example.test", "bob@example.test"];
const DATA_DIR = "/data";

function bodyOf(i: number): string {
  // Several sectors long, so a torn write shows.
  return `Subject: message ${i}\r\n\r\n` + `line ${i} `.repeat(150) + "\r\n";
}

/**
 * Sends MESSAGES messages over `sessions` sessions at once: each session
 * runs until its message ends, then all of them are stored as one batch
 * (group commit) and acknowledged. Returns the indexes that got 250 before
 * the power went.
 */
function run(files: FileLayer, sessions = 1): number[] {
  const store = new MailStore({ files, dataDir: DATA_DIR, hostname: "mx.test" });
  const acknowledged: number[] = [];
  try {
    store.open();
    const config = { ...TEST_CONFIG, sizeBytesMax: 100_000 };
    const clients = Array.from({ length: sessions }, () => {
      const spool = store.spool();
      const engine = new SmtpEngine(config, newSession("127.0.0.1"), {
        sink: spool,
        limits: DEFAULT_COMMAND_LIMITS,
      });
      return { spool, engine };
    });
    for (let first = 0; first < MESSAGES; first += sessions) {
      const batch: { i: number; client: typeof clients[0]; envelope: Envelope }[] = [];
      for (let k = 0; k < sessions && first + k < MESSAGES; k++) {
        const i = first + k;
        const client = clients[k];
        const rcpts = RECIPIENTS.map((r) => `RCPT TO:<${r}>\r\n`).join("");
        const input = utf8(
          `HELO c\r\nMAIL FROM:<s@far.test>\r\n${rcpts}DATA\r\n${bodyOf(i)}.\r\n`,
        );
        let at = 0;
        while (at < input.length) {
          const step = client.engine.feed(input, at, input.length);
          at += step.bytesUsed;
          if (step.pending?.kind === "store") {
            batch.push({ i, client, envelope: step.pending.envelope });
          }
        }
      }
      const ids = store.deliverBatch(batch.map((b) => ({
        envelope: b.envelope,
        spool: b.client.spool,
        arrival: { clientAddress: "127.0.0.1", receivedAtMs: 0 },
      })));
      batch.forEach((b, n) => {
        assert.match(b.client.engine.stored({ ok: true, id: ids[n] }), /^250 /);
        acknowledged.push(b.i);
      });
    }
  } catch (error) {
    if (!(error instanceof PowerLoss)) throw error;
  }
  return acknowledged;
}

/** Messages whole in the mailbox's new/ on `disk`, by index; throws on a torn one. */
function delivered(disk: SimulatedDisk, address: string): number[] {
  const store = new MailStore({ files: disk, dataDir: DATA_DIR, hostname: "mx.test" });
  const dir = `${store.maildirOf(address)}/new`;
  const found: number[] = [];
  for (const name of disk.list(dir)) {
    const text = fromUtf8(disk.readFile(`${dir}/${name}`)!);
    const match = /Subject: message (\d+)\r\n/.exec(text);
    assert.ok(match !== null, `${dir}/${name} has no subject: torn`);
    const i = Number(match[1]);
    assert.ok(text.endsWith(bodyOf(i)), `${dir}/${name} is not whole`);
    assert.ok(text.startsWith("Return-Path: <s@far.test>\r\n"), `${dir}/${name} head`);
    found.push(i);
  }
  return found.sort();
}

/** Every crash point of the run under `mode`; returns the acknowledged messages found lost. */
function lossesAtEveryPoint(
  mode: LossMode,
  wrap: (disk: SimulatedDisk) => FileLayer,
  sessions = 1,
): string[] {
  const total = new SimulatedDisk();
  assert.equal(run(wrap(total), sessions).length, MESSAGES, "every message acknowledged");
  const lost: string[] = [];
  for (let point = 1; point <= total.opCount + 1; point++) {
    const disk = new SimulatedDisk({ crashAtOp: point });
    const acknowledged = run(wrap(disk), sessions);
    const after = disk.powerLoss(seededRandom(point), mode);
    // Recovery runs on what survived: open() removes leftovers, then check.
    new MailStore({ files: after, dataDir: DATA_DIR, hostname: "mx.test" }).open();
    for (const address of RECIPIENTS) {
      const found = delivered(after, address);
      for (const i of acknowledged) {
        if (!found.includes(i)) lost.push(`message ${i} to ${address} at op ${point} (${mode})`);
      }
    }
  }
  return lost;
}

for (const mode of ["lose", "tear", "keep"] as const) {
  Deno.test(`smtp store: every acknowledged message survives a power cut at any point (${mode})`, () => {
    assert.deepEqual(lossesAtEveryPoint(mode, (disk) => disk), []);
  });
}

for (const mode of ["lose", "tear"] as const) {
  Deno.test(`smtp store: group commit of 2 messages loses nothing acknowledged (${mode})`, () => {
    assert.deepEqual(lossesAtEveryPoint(mode, (disk) => disk, 2), []);
  });
}

Deno.test("smtp store power-loss test catches a missing directory fsync", () => {
  const skipDirectorySync = (disk: SimulatedDisk): FileLayer => ({
    open: (path, options) => disk.open(path, options),
    readFile: (path) => disk.readFile(path),
    sizeOf: (path) => disk.sizeOf(path),
    rename: (from, to) => disk.rename(from, to),
    remove: (path) => disk.remove(path),
    list: (dir) => disk.list(dir),
    makeDirectory: (dir) => disk.makeDirectory(dir),
    syncDirectory: () => {},
  });
  assert.ok(lossesAtEveryPoint("lose", skipDirectorySync).length > 0);
});

Deno.test("smtp store power-loss test catches a missing file fsync", () => {
  const skipFileSync = (disk: SimulatedDisk): FileLayer => ({
    open: (path, options) => {
      const handle = disk.open(path, options);
      return Object.assign(Object.create(Object.getPrototypeOf(handle)), handle, {
        readAt: (into: Uint8Array, position: number) => handle.readAt(into, position),
        writeAt: (bytes: Uint8Array, position: number) => handle.writeAt(bytes, position),
        sync: () => {},
        syncData: () => {},
        truncate: (n: number) => handle.truncate(n),
        size: () => handle.size(),
        close: () => handle.close(),
        [Symbol.dispose]: () => handle.close(),
      });
    },
    readFile: (path) => disk.readFile(path),
    sizeOf: (path) => disk.sizeOf(path),
    rename: (from, to) => disk.rename(from, to),
    remove: (path) => disk.remove(path),
    list: (dir) => disk.list(dir),
    makeDirectory: (dir) => disk.makeDirectory(dir),
    syncDirectory: (dir) => disk.syncDirectory(dir),
  });
  let caught = false;
  try {
    caught = lossesAtEveryPoint("lose", skipFileSync).length > 0;
  } catch (error) {
    // A torn or empty message in new/ is caught by delivered()'s asserts.
    caught = error instanceof assert.AssertionError;
  }
  assert.ok(caught);
});

/** The kinds of disk operations one batch of `sessions` messages costs, local and queued. */
async function batchOps(deliver: "sync" | "async", sessions: number): Promise<string[]> {
  const disk = new SimulatedDisk();
  const store = new MailStore({ files: disk, dataDir: DATA_DIR, hostname: "mx.test" });
  store.open();
  const config = { ...TEST_CONFIG, sizeBytesMax: 100_000 };
  const items = [];
  for (let i = 0; i < sessions; i++) {
    const spool = store.spool();
    const engine = new SmtpEngine(config, newSession("127.0.0.1", { trusted: true }), {
      sink: spool,
      limits: DEFAULT_COMMAND_LIMITS,
    });
    const input = utf8(
      `HELO c\r\nMAIL FROM:<s@far.test>\r\nRCPT TO:<${RECIPIENTS[0]}>\r\n` +
        `RCPT TO:<x@far.test>\r\nDATA\r\n${bodyOf(i)}.\r\n`,
    );
    let at = 0;
    while (at < input.length) {
      const step = engine.feed(input, at, input.length);
      at += step.bytesUsed;
      if (step.pending?.kind === "store") {
        items.push({
          envelope: step.pending.envelope,
          spool,
          arrival: { clientAddress: "127.0.0.1", receivedAtMs: 0 },
        });
      }
    }
  }
  assert.equal(items.length, sessions);
  const ops: string[] = [];
  disk.onOp = (op) => ops.push(op.kind);
  if (deliver === "sync") store.deliverBatch(items);
  else await store.deliverBatchAsync(items);
  return ops;
}

// The power cuts above run deliverBatch; the server stores through
// deliverBatchAsync. Same disk operations in the same order, so the cuts
// cover both.
Deno.test("deliverBatchAsync() makes the same disk operations in the same order as deliverBatch()", async () => {
  for (const sessions of [1, 3]) {
    const sync = await batchOps("sync", sessions);
    assert.ok(sync.includes("rename") && sync.includes("syncDirectory"));
    assert.deepEqual(await batchOps("async", sessions), sync);
  }
});
