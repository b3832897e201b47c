// HyperLogLog: Redis's hash and estimator (so counts match redis-server's
// exactly, which the random differential test checks), the estimate within
// Redis's standard error, and HyperLogLog strings made by redis-server
// (sparse and dense) read here.

import assert from "node:assert/strict";
import { RespClient } from "../../../lib/resp/client.ts";
import { HLL_REGISTERS, HyperLogLog } from "../../../services/cache/hyperloglog.ts";
import { service } from "../../../services/cache/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { startRedis } from "./redis_server.ts";

Deno.test({
  name: "PFCOUNT's estimate stays within three standard errors (3 x 0.81%) up to 200k elements",
  permissions: "none",
  fn() {
    const hll = new HyperLogLog();
    const standardError = 1.04 / Math.sqrt(HLL_REGISTERS);
    for (let n = 1; n <= 200_000; n++) {
      hll.add(`element:${n}`);
      if (n % 20_000 !== 0 && n !== 10 && n !== 1000) continue;
      const estimate = hll.count();
      assert.ok(
        Math.abs(estimate - n) <= Math.max(1, 3 * standardError * n),
        `${estimate} for ${n}`,
      );
    }
  },
});

Deno.test({
  name: "HyperLogLog.decode() reads a sparse string and refuses a malformed one",
  permissions: "none",
  fn() {
    const header = "HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80";
    // VAL 3 x2 at registers 0-1, then XZERO for the other 16382.
    const xzero = 16382 - 1;
    const sparse = header + String.fromCharCode(0x80 | (2 << 2) | 1) +
      String.fromCharCode(0x40 | (xzero >> 8), xzero & 0xff);
    const hll = HyperLogLog.decode(sparse);
    assert.ok(hll !== null);
    assert.deepEqual([...hll.registers.subarray(0, 3)], [3, 3, 0]);
    assert.equal(HyperLogLog.decode(header + "\x00"), null, "covers one register only");
    assert.equal(HyperLogLog.decode("HYLL\x00"), null);
    assert.equal(HyperLogLog.decode(hll.encode())?.count(), hll.count());
  },
});

interopTest("a HyperLogLog made by redis-server (sparse, then dense) counts the same here", {
  binaries: ["redis-server"],
  async fn() {
    await using redis = await startRedis();
    await using cache = await startService(service);
    const theirs = await RespClient.connect({ port: redis.port });
    const ours = await RespClient.connect({ port: cache.addresses.tcp.port });
    try {
      for (const size of [50, 5000]) {
        const elements = Array.from({ length: size }, (_, i) => `e${i}`);
        await theirs.send("PFADD", "h", ...elements);
        const bytes = await theirs.send("GET", "h");
        assert.ok(bytes instanceof Uint8Array);
        assert.equal((await ours.send("SET", "h", bytes) as { text: string }).text, "OK");
        assert.equal(await ours.send("PFCOUNT", "h"), await theirs.send("PFCOUNT", "h"));
        assert.equal(await ours.send("PFADD", "h", "new"), await theirs.send("PFADD", "h", "new"));
        assert.equal(await ours.send("PFCOUNT", "h"), await theirs.send("PFCOUNT", "h"));
      }
    } finally {
      theirs.close();
      ours.close();
    }
  },
});
