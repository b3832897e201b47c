// rclone (Debian's) against the object store as an S3 remote (provider
// Other, path style): mkdir, copyto, a multipart copyto, sync, lsf, check
// (hashes), cat, link (a presigned URL, fetched with curl), copy down,
// delete, rmdir. Skipped when rclone or curl is missing, unless
// REQUIRE_INTEROP=1.

import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, service } from "../../../services/objects/mod.ts";
import { interopTest, runClient } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";

interopTest("rclone: mkdir, copyto (multipart too), sync, lsf, check, cat, link, delete", {
  binaries: ["rclone", "curl"],
  async fn() {
    await using svc = await startService(service);
    const work = await Deno.makeTempDir({ prefix: "underhood-objects-rclone-" });
    const env = {
      HOME: work,
      // aws-sdk-go in rclone 1.60 fails on any AWS_CA_BUNDLE with its own transport.
      AWS_CA_BUNDLE: "",
      RCLONE_CONFIG_UH_TYPE: "s3",
      RCLONE_CONFIG_UH_PROVIDER: "Other",
      RCLONE_CONFIG_UH_ACCESS_KEY_ID: DEFAULT_ACCESS_KEY,
      RCLONE_CONFIG_UH_SECRET_ACCESS_KEY: DEFAULT_SECRET_KEY,
      RCLONE_CONFIG_UH_ENDPOINT: `http://127.0.0.1:${svc.addresses.http.port}`,
      RCLONE_CONFIG_UH_REGION: "us-east-1",
      RCLONE_CONFIG_UH_FORCE_PATH_STYLE: "true",
    };
    const rclone = async (...args: string[]) => {
      const result = await runClient("rclone", ["--config", "/dev/null", ...args], {
        env,
        timeoutMs: 60_000,
      });
      assert.equal(result.code, 0, `rclone ${args.join(" ")}: ${result.stderr}`);
      return result.stdout + result.stderr;
    };
    try {
      const small = join(work, "small.txt");
      await Deno.writeTextFile(small, "hello from rclone\n");
      const big = join(work, "big.bin");
      await Deno.writeFile(big, new Uint8Array(11 * 1024 * 1024 + 9).map((_, i) => i % 241));
      const tree = join(work, "tree");
      await Deno.mkdir(join(tree, "sub"), { recursive: true });
      await Deno.writeTextFile(join(tree, "a.txt"), "a\n");
      await Deno.writeTextFile(join(tree, "sub", "b.txt"), "b\n");

      await rclone("mkdir", "uh:rclone-bucket");
      await rclone("copyto", small, "uh:rclone-bucket/small.txt");
      const multipart = await rclone(
        "copyto",
        "-vv",
        "--s3-upload-cutoff",
        "5M",
        "--s3-chunk-size",
        "5M",
        big,
        "uh:rclone-bucket/big.bin",
      );
      assert.match(multipart, /multipart upload starting chunk 3/);
      await rclone("sync", tree, "uh:rclone-bucket/tree");
      const listing = (await rclone("lsf", "-R", "--files-only", "uh:rclone-bucket")).trim()
        .split("\n").sort();
      assert.deepEqual(listing, ["big.bin", "small.txt", "tree/a.txt", "tree/sub/b.txt"]);
      assert.match(await rclone("check", tree, "uh:rclone-bucket/tree"), /0 differences found/);
      assert.equal(await rclone("cat", "uh:rclone-bucket/small.txt"), "hello from rclone\n");

      const url = (await rclone("link", "--expire", "5m", "uh:rclone-bucket/small.txt")).trim();
      assert.match(url, /X-Amz-Signature=/);
      const curl = await runClient("curl", ["-s", "-f", url], { timeoutMs: 30_000 });
      assert.equal(curl.stdout, "hello from rclone\n", curl.stderr);

      await rclone("copyto", "uh:rclone-bucket/big.bin", join(work, "big.back"));
      assert.deepEqual(await Deno.readFile(join(work, "big.back")), await Deno.readFile(big));
      await rclone("delete", "uh:rclone-bucket");
      await rclone("rmdir", "uh:rclone-bucket");
      assert.doesNotMatch(await rclone("lsd", "uh:"), /rclone-bucket/);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});
