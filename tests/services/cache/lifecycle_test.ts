// The cache as a real process: it logs where it listens, answers, and on
// SIGTERM closes its clients and exits 0.

import assert from "node:assert/strict";
import { RespClient } from "../../../lib/resp/client.ts";
import { fromUtf8 } from "../../../lib/bytes.ts";
import { RespSimple } from "../../../lib/resp/types.ts";
import { spawnService } from "../../_support/subprocess.ts";
import { waitFor } from "./wait.ts";

Deno.test("cache process answers, then drains and exits 0 on SIGTERM", async () => {
  // No `roles`: the text log quotes its values ("tcp"), so take the first listening line.
  const cache = await spawnService(["cache", "--port", "0"]);
  try {
    const port = Object.values(cache.ports)[0];
    const client = await RespClient.connect({ port });
    try {
      assert.deepEqual(await client.send("PING"), new RespSimple("PONG"));
      const blocked = client.send("BLPOP", "never", 0).catch(() => "closed");
      using watcher = await RespClient.connect({ port });
      await waitFor("the BLPOP to park", async () => {
        const info = await watcher.send("INFO", "clients");
        return info instanceof Uint8Array && fromUtf8(info).includes("blocked_clients:1");
      });
      cache.kill("SIGTERM");
      const status = await cache.exited();
      assert.equal(status.code, 0);
      assert.equal(await blocked, "closed");
    } finally {
      client.close();
    }
  } finally {
    cache.kill();
    await cache.exited();
  }
});
