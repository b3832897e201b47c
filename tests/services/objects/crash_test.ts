// Crash test: the objects service as a real process, kill -9'd at seeded
// moments (20 times) while four clients upload and overwrite objects of 1
// KiB to 1.5 MiB, and one key's of 8 to 9.5 MiB, written direct (each client its own keys). After each kill the service restarts on the same data
// directory, and then:
//   - every object listed reads back whole: its content is a version some
//     client sent for that key (content names its key and version and is
//     derived from them), and its MD5 is the ETag listed;
//   - every acknowledged write is there: each key holds the last version
//     acknowledged for it, or a later one that was in flight at the kill.
// CRASH_SEED=n replays a run's choices (the kill lands at a wall-clock
// moment, so only as closely as timing allows).
//
// A kill -9 keeps the page cache, so this cannot catch a missing fsync:
// power_loss_test.ts does that.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DIRECT_WRITE_BYTES } from "../../../services/objects/body.ts";
import { seededRandom } from "../../_support/power_loss_fs.ts";
import { spawnService } from "../../_support/subprocess.ts";
import { encodeKey, S3TestClient, xmlFields } from "./_s3.ts";

const KILLS = 20;
const WRITERS = 4;
const KEYS = ["a", "dir/b", "dir/c", "sp ace", "\u00e9t\u00e9", "deep/er/key"];
const SEED = Number(Deno.env.get("CRASH_SEED") ?? Math.floor(Math.random() * 2 ** 31));

/** A key whose versions are large enough to be written direct (O_DIRECT, body.ts). */
const LARGE_KEY = "deep/er/key";

/**
 * The content of version `version` of `key`: self-describing, 1 KiB to 1.5
 * MiB, or 8 to 9.5 MiB for LARGE_KEY.
 */
function contentOf(key: string, version: number): Uint8Array {
  const random = seededRandom(version * 7919 + key.length);
  const size = 1024 + Math.floor(random() * 1.5 * 1024 * 1024) +
    (key === LARGE_KEY ? DIRECT_WRITE_BYTES : 0);
  const head = new TextEncoder().encode(`${JSON.stringify([key, version])}\n`);
  const out = new Uint8Array(head.length + size);
  out.set(head);
  const fill = Math.floor(random() * 256);
  for (let i = head.length; i < out.length; i++) out[i] = (i * 31 + fill) & 0xff;
  return out;
}

function parseVersion(bytes: Uint8Array): [string, number] | undefined {
  const newline = bytes.indexOf(0x0a);
  if (newline === -1) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes.subarray(0, newline)));
  } catch {
    return undefined;
  }
}

Deno.test({
  name:
    `objects: kill -9 during uploads and overwrites never loses or tears an object (seed ${SEED})`,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "underhood-objects-crash-" });
    const random = seededRandom(SEED);
    const acked = new Map<string, number>();
    let nextVersion = 1;
    try {
      for (let round = 0; round <= KILLS; round++) {
        const svc = await spawnService(
          ["objects", "--port", "0", "--admin-port", "0", "--data-dir", dataDir],
          { roles: ["http"] },
        );
        const s3 = new S3TestClient({
          transport: "tcp",
          hostname: "127.0.0.1",
          port: svc.ports.http,
        });
        try {
          if (round === 0) assert.equal((await s3.text("PUT", "/crash")).status, 200);
          await verify(s3, acked, round);
          if (round === KILLS) {
            assert.ok(acked.size >= KEYS.length / 2, `only ${acked.size} keys were ever written`);
            break;
          }
          // Writers upload until the kill; the kill comes after a seeded delay.
          let killed = false;
          // Each writer owns its keys, so the writes to one key are sequential
          // and a later version is always a later write.
          const writer = async (_: unknown, w: number) => {
            const mine = KEYS.filter((_, i) => i % WRITERS === w);
            while (!killed) {
              const key = mine[Math.floor(random() * mine.length)];
              const version = nextVersion++;
              try {
                const r = await s3.text("PUT", `/crash/${encodeKey(key)}`, {
                  body: contentOf(key, version),
                });
                if (r.status === 200 && version > (acked.get(key) ?? 0)) acked.set(key, version);
              } catch {
                return; // the connection died with the process
              }
            }
          };
          const writers = Array.from({ length: WRITERS }, writer);
          await new Promise((resolve) => setTimeout(resolve, 50 + random() * 400));
          killed = true;
          svc.kill("SIGKILL");
          await svc.exited();
          await Promise.all(writers);
        } finally {
          await s3.close();
          svc.kill("SIGKILL");
          await svc.exited();
        }
      }
    } catch (error) {
      throw new Error(`seed ${SEED}: ${error instanceof Error ? error.message : error}`, {
        cause: error,
      });
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

async function verify(s3: S3TestClient, acked: Map<string, number>, round: number) {
  const listing = await s3.text("GET", "/crash", { query: [["list-type", "2"]] });
  assert.equal(listing.status, 200, listing.text);
  const keys = xmlFields(listing.text, "Key");
  const etags = xmlFields(listing.text, "ETag").map((e) => e.replaceAll("&quot;", ""));
  const present = new Map<string, number>();
  for (const [i, key] of keys.entries()) {
    const response = await s3.send("GET", `/crash/${encodeKey(key)}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const md5 = createHash("md5").update(bytes).digest("hex");
    assert.equal(md5, etags[i], `round ${round}: ${key} does not match its listed ETag`);
    const parsed = parseVersion(bytes);
    assert.ok(
      parsed !== undefined && parsed[0] === key,
      `round ${round}: ${key} is not a version of it`,
    );
    assert.deepEqual(bytes, contentOf(key, parsed[1]), `round ${round}: ${key} is torn`);
    present.set(key, parsed[1]);
  }
  for (const [key, version] of acked) {
    const got = present.get(key);
    assert.ok(
      got !== undefined && got >= version,
      `round ${round}: ${key} acknowledged at version ${version}, found ${got}`,
    );
  }
}
