// boto3 (Debian's python3-boto3, or any boto3 on python3) against the object
// store, with only endpoint_url changed: the script boto3_client.py runs
// the common calls and asserts on each. Skipped when python3 or boto3 is
// missing, unless REQUIRE_INTEROP=1.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { service } from "../../../services/objects/mod.ts";
import { hasBinary, interopRequired, runClient } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";

const SCRIPT = fileURLToPath(new URL("./boto3_client.py", import.meta.url));
const NAME = "boto3: buckets, checksummed puts, multipart transfer, attributes, copies, " +
  "paging, presign, batch delete";

function hasBoto3(): boolean {
  if (!hasBinary("python3")) return false;
  return new Deno.Command("python3", {
    args: ["-c", "import boto3"],
    stdout: "null",
    stderr: "null",
  }).outputSync().success;
}

if (!hasBoto3() && !interopRequired()) {
  console.warn(`skipped: python3 with boto3 not installed (${NAME})`);
  Deno.test({ name: `${NAME} (skipped: boto3 not installed)`, ignore: true, fn() {} });
} else {
  Deno.test(NAME, async () => {
    assert.ok(hasBoto3(), "REQUIRE_INTEROP=1 but python3 with boto3 (python3-boto3) is missing");
    await using svc = await startService(service);
    const home = await Deno.makeTempDir({ prefix: "underhood-objects-boto3-" });
    try {
      const result = await runClient(
        "python3",
        [SCRIPT, `http://127.0.0.1:${svc.addresses.http.port}`, "boto3-bucket"],
        {
          // A CA bundle from the environment is for the Internet, not for us.
          env: { HOME: home, AWS_CA_BUNDLE: "", AWS_CONFIG_FILE: "/dev/null" },
          timeoutMs: 120_000,
        },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^ok$/m);
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  });
}
