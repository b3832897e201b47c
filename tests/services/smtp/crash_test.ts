// kill -9 while mail streams in: the smtp service runs as a process on one
// data directory; a client sends messages back to back, and at a seeded
// moment (after k acknowledged messages, then before, during or right after
// the next message's data) the process is killed. Every message that got
// 250 must be whole in its Maildir, whatever the moment; the next round
// starts the service again on the same directory (recovery) and goes on.

import assert from "node:assert/strict";
import { fromUtf8 } from "../../../lib/bytes.ts";
import { seededRandom } from "../../_support/power_loss_fs.ts";
import { spawnService } from "../../_support/subprocess.ts";
import { LineReader, send } from "./socket_driver.ts";

const ROUNDS = 20;
/** Messages sent in one round at most (the kill comes before). */
const MESSAGES_MAX = 8;

function bodyOf(tag: string): string {
  // About 40 KiB: several writes and copies per message.
  return `Subject: ${tag}\r\n\r\n` + `${tag} payload line\r\n`.repeat(1500);
}

function storedBodies(dataDir: string): Map<string, string> {
  const dir = `${dataDir}/mail/example.test/alice/new`;
  const out = new Map<string, string>();
  let names: string[] = [];
  try {
    names = [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch { /* no mail yet */ }
  for (const name of names) {
    const text = fromUtf8(Deno.readFileSync(`${dir}/${name}`));
    const match = /\r\nSubject: (\S+)\r\n/.exec(text);
    assert.ok(match !== null, `${name}: no subject (torn?)`);
    out.set(match[1], text);
  }
  return out;
}

Deno.test("smtp: every acknowledged message survives kill -9 at seeded moments", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-smtp-crash-" });
  const random = seededRandom(2525);
  const acknowledged: string[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const smtp = await spawnService([
        "smtp",
        "--port=0",
        "--submission-port=0",
        "--admin-port=0",
        `--data-dir=${dataDir}`,
        "--domain=example.test",
      ], { roles: ["tcp"] });
      try {
        const killAfter = Math.floor(random() * MESSAGES_MAX);
        const moment = Math.floor(random() * 3); // 0: before DATA, 1: mid data, 2: after the end
        using conn = await Deno.connect({ hostname: "127.0.0.1", port: smtp.ports.tcp });
        const reader = new LineReader(conn);
        await reader.reply();
        await send(conn, "EHLO crash.test\r\n");
        await reader.reply();
        for (let i = 0;; i++) {
          const tag = `r${round}m${i}`;
          const body = bodyOf(tag);
          await send(conn, "MAIL FROM:<s@far.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
          for (let r = 0; r < 2; r++) assert.match((await reader.reply())[0], /^250 /);
          assert.match((await reader.reply())[0], /^354 /);
          if (i === killAfter && moment === 0) break;
          if (i === killAfter && moment === 1) {
            await send(conn, body.slice(0, body.length >> 1));
            break;
          }
          await send(conn, body + ".\r\n");
          if (i === killAfter) break; // moment 2: killed while the store may be running
          const reply = await reader.reply();
          assert.match(reply[0], /^250 2\.0\.0 OK/);
          acknowledged.push(tag);
        }
      } finally {
        smtp.kill("SIGKILL");
        await smtp.exited();
      }
      const stored = storedBodies(dataDir);
      for (const tag of acknowledged) {
        const text = stored.get(tag);
        assert.ok(text !== undefined, `round ${round}: acknowledged ${tag} is missing`);
        assert.ok(text.endsWith(bodyOf(tag)), `round ${round}: ${tag} is not whole`);
      }
      for (const [tag, text] of stored) {
        assert.ok(text.endsWith(bodyOf(tag)), `round ${round}: ${tag} in new/ is not whole`);
      }
    }
    assert.ok(acknowledged.length > 0, "some messages were acknowledged");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
