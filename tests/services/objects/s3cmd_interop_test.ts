// s3cmd (Debian's) against the object store: mb, put (a multipart one too),
// ls, info, get, sync up and down, del, del --recursive (DeleteObjects with
// Content-MD5), rb. Its signurl is Signature Version 2, which the store
// does not take, so presigning is tested with the other clients. Skipped
// when s3cmd is missing, unless REQUIRE_INTEROP=1.

import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, service } from "../../../services/objects/mod.ts";
import { interopTest, runClient } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { S3TestClient } from "./_s3.ts";

interopTest("s3cmd: mb, put (multipart too), ls, info, get, sync both ways, del, rb", {
  binaries: ["s3cmd"],
  async fn() {
    await using svc = await startService(service);
    const host = `127.0.0.1:${svc.addresses.http.port}`;
    const work = await Deno.makeTempDir({ prefix: "underhood-objects-s3cmd-" });
    const config = join(work, "s3cfg");
    await Deno.writeTextFile(
      config,
      [
        "[default]",
        `access_key = ${DEFAULT_ACCESS_KEY}`,
        `secret_key = ${DEFAULT_SECRET_KEY}`,
        `host_base = ${host}`,
        `host_bucket = ${host}`,
        "use_https = False",
        "signature_v2 = False",
        "bucket_location = us-east-1",
        "",
      ].join("\n"),
    );
    const s3cmd = async (...args: string[]) => {
      const result = await runClient("s3cmd", ["-c", config, ...args], {
        env: { HOME: work },
        timeoutMs: 60_000,
      });
      assert.equal(result.code, 0, `s3cmd ${args.join(" ")}: ${result.stderr}`);
      return result.stdout;
    };
    try {
      const small = join(work, "small.txt");
      await Deno.writeTextFile(small, "hello from s3cmd\n");
      const big = join(work, "big.bin");
      await Deno.writeFile(big, new Uint8Array(12 * 1024 * 1024 + 3).map((_, i) => i % 249));
      const tree = join(work, "tree");
      await Deno.mkdir(join(tree, "sub"), { recursive: true });
      await Deno.writeTextFile(join(tree, "a.txt"), "a\n");
      await Deno.writeTextFile(join(tree, "sub", "b.txt"), "b\n");

      await s3cmd("mb", "s3://s3cmd-bucket");
      await s3cmd("put", small, "s3://s3cmd-bucket/small.txt");
      // 5 MiB chunks: three parts, as the ETag says.
      await s3cmd("put", "--multipart-chunk-size-mb=5", big, "s3://s3cmd-bucket/big.bin");
      await using s3 = new S3TestClient(svc.addresses.http);
      const head = await s3.text("HEAD", "/s3cmd-bucket/big.bin");
      assert.match(head.headers.get("etag")!, /-3"$/);
      const info = await s3cmd("info", "s3://s3cmd-bucket/big.bin");
      assert.match(info, /File size:\s+12582915/);
      await s3cmd("sync", tree + "/", "s3://s3cmd-bucket/tree/");
      const listing = await s3cmd("ls", "--recursive", "s3://s3cmd-bucket");
      for (const key of ["small.txt", "big.bin", "tree/a.txt", "tree/sub/b.txt"]) {
        assert.match(listing, new RegExp(`s3://s3cmd-bucket/${key}\\n`));
      }
      await s3cmd("get", "s3://s3cmd-bucket/big.bin", join(work, "big.back"));
      assert.deepEqual(await Deno.readFile(join(work, "big.back")), await Deno.readFile(big));
      await s3cmd("sync", "s3://s3cmd-bucket/tree/", join(work, "tree-back") + "/");
      assert.equal(await Deno.readTextFile(join(work, "tree-back", "sub", "b.txt")), "b\n");

      await s3cmd("del", "s3://s3cmd-bucket/small.txt");
      await s3cmd("del", "--recursive", "--force", "s3://s3cmd-bucket");
      await s3cmd("rb", "s3://s3cmd-bucket");
      assert.doesNotMatch(await s3cmd("ls"), /s3cmd-bucket/);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});
