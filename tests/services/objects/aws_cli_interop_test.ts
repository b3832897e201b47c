// The aws CLI against the object store, with only --endpoint-url changed:
// make a bucket, copy files up and down, list, presign a URL for curl,
// remove. Skipped when aws or curl is missing (unless REQUIRE_INTEROP=1).

import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, service } from "../../../services/objects/mod.ts";
import { hasBinary, interopTest, runClient } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";

// Debian's awscli package (2.x, the version the issue names) wins over an
// `aws` earlier on PATH, such as a pip-installed 1.x.
const AWS = hasBinary("/usr/bin/aws") ? "/usr/bin/aws" : "aws";

interopTest(
  "aws CLI: mb, cp up, down and across (multipart too), sync both ways, ls, presign with curl, rm, rb",
  {
    binaries: ["aws", "curl"],
    async fn() {
      await using svc = await startService(service);
      const endpoint = `http://127.0.0.1:${svc.addresses.http.port}`;
      const work = await Deno.makeTempDir({ prefix: "underhood-objects-aws-" });
      const env = {
        PATH: Deno.env.get("PATH") ?? "",
        // A CA bundle from the environment is for the Internet, not for us.
        AWS_CA_BUNDLE: "",
        HOME: work,
        AWS_ACCESS_KEY_ID: DEFAULT_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY: DEFAULT_SECRET_KEY,
        AWS_DEFAULT_REGION: "us-east-1",
        AWS_EC2_METADATA_DISABLED: "true",
      };
      const aws = async (...args: string[]) => {
        const result = await runClient(AWS, ["--endpoint-url", endpoint, ...args], {
          env,
          timeoutMs: 60_000,
        });
        assert.equal(result.code, 0, `aws ${args.join(" ")}: ${result.stderr}`);
        return result.stdout;
      };
      // aws CLI v1 presigns with Signature Version 2 unless told; v2 uses SigV4.
      await Deno.mkdir(join(work, ".aws"));
      await Deno.writeTextFile(
        join(work, ".aws", "config"),
        "[default]\ns3 =\n    signature_version = s3v4\n",
      );
      try {
        const small = join(work, "small.txt");
        await Deno.writeTextFile(small, "hello from the aws CLI\n");
        const medium = join(work, "medium.bin");
        await Deno.writeFile(medium, new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251));

        await aws("s3", "mb", "s3://cli-bucket");
        await aws("s3", "cp", small, "s3://cli-bucket/dir/small.txt");
        await aws("s3", "cp", medium, "s3://cli-bucket/medium.bin");
        // Past the CLI's 8 MiB threshold: a multipart upload.
        const large = join(work, "large.bin");
        await Deno.writeFile(large, new Uint8Array(9 * 1024 * 1024 + 5).map((_, i) => i % 253));
        await aws("s3", "cp", large, "s3://cli-bucket/large.bin");
        await aws("s3", "cp", "s3://cli-bucket/large.bin", join(work, "large.back"));
        assert.deepEqual(await Deno.readFile(join(work, "large.back")), await Deno.readFile(large));
        const largeHead = JSON.parse(
          await aws("s3api", "head-object", "--bucket", "cli-bucket", "--key", "large.bin"),
        );
        assert.match(largeHead.ETag, /-2"$/);
        // A server-side copy past the threshold: CreateMultipartUpload, then
        // UploadPartCopy with x-amz-copy-source-range for each part.
        const across = await runClient(AWS, [
          "--endpoint-url",
          endpoint,
          "--debug",
          "s3",
          "cp",
          "s3://cli-bucket/large.bin",
          "s3://cli-bucket/large-copy.bin",
        ], { env, timeoutMs: 60_000 });
        assert.equal(across.code, 0, across.stderr.slice(-2000));
        assert.match(across.stderr, /UploadPartCopy/);
        const copyHead = JSON.parse(
          await aws("s3api", "head-object", "--bucket", "cli-bucket", "--key", "large-copy.bin"),
        );
        assert.match(copyHead.ETag, /-2"$/);
        assert.equal(copyHead.ContentLength, 9 * 1024 * 1024 + 5);
        await aws("s3", "cp", "s3://cli-bucket/large-copy.bin", join(work, "copy.back"));
        assert.deepEqual(await Deno.readFile(join(work, "copy.back")), await Deno.readFile(large));
        // sync up a tree, then down into an empty directory.
        const tree = join(work, "tree");
        await Deno.mkdir(join(tree, "sub"), { recursive: true });
        await Deno.writeTextFile(join(tree, "a.txt"), "a\n");
        await Deno.writeTextFile(join(tree, "sub", "b.txt"), "b\n");
        await aws("s3", "sync", tree, "s3://cli-bucket/tree");
        await aws("s3", "sync", "s3://cli-bucket/tree", join(work, "tree-back"));
        assert.equal(await Deno.readTextFile(join(work, "tree-back", "sub", "b.txt")), "b\n");
        // A second sync has nothing to copy.
        assert.equal((await aws("s3", "sync", tree, "s3://cli-bucket/tree")).trim(), "");
        const listing = await aws("s3", "ls", "s3://cli-bucket", "--recursive");
        assert.match(listing, /dir\/small\.txt/);
        assert.match(listing, /medium\.bin/);
        await aws("s3", "cp", "s3://cli-bucket/medium.bin", join(work, "back.bin"));
        assert.deepEqual(await Deno.readFile(join(work, "back.bin")), await Deno.readFile(medium));
        const head = JSON.parse(
          await aws("s3api", "head-object", "--bucket", "cli-bucket", "--key", "dir/small.txt"),
        );
        assert.equal(head.ContentLength, 23);

        const url =
          (await aws("s3", "presign", "s3://cli-bucket/dir/small.txt", "--expires-in", "60"))
            .trim();
        const curl = await runClient("curl", ["-s", "-f", url], { timeoutMs: 30_000 });
        assert.equal(curl.stdout, "hello from the aws CLI\n", curl.stderr);

        await aws("s3", "rm", "s3://cli-bucket", "--recursive");
        await aws("s3", "rb", "s3://cli-bucket");
        assert.doesNotMatch(await aws("s3", "ls"), /cli-bucket/);
      } finally {
        await Deno.remove(work, { recursive: true });
      }
    },
  },
);
