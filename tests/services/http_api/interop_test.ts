// Real clients against the http-api and what it stores: curl drives the
// REST API (JSON in, problem+json out, an image upload with -T), psql reads
// the rows the API wrote, redis-cli sees the cache-aside entry.

import assert from "node:assert/strict";
import { interopTest, runClient } from "../../_support/interop.ts";
import { startApi, startDeps } from "./_deps.ts";

interopTest("curl, psql and redis-cli against the http-api and its datastore and cache", {
  binaries: ["curl", "psql", "redis-cli"],
  async fn() {
    await using deps = await startDeps();
    await using api = await startApi(deps);
    const curl = (...args: string[]) => runClient("curl", ["-sS", ...args], { timeoutMs: 20_000 });

    const created = await curl(
      "-i",
      "-H",
      "content-type: application/json",
      "-d",
      '{"name":"Wingardium Leviosa","incantation":"Wingardium leviosa!"}',
      `${api.base}/api/spells`,
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^HTTP\/1\.1 201 Created\r\n/);
    assert.match(created.stdout, /\r\nlocation: \/api\/spells\/3\r\n/i);

    const got = await curl("-w", "\n%{http_code} %{content_type}", `${api.base}/api/spells/3`);
    const [body, status] = got.stdout.split("\n");
    assert.equal(JSON.parse(body).name, "Wingardium Leviosa");
    assert.equal(status, "200 application/json");

    const invalid = await curl(
      "-w",
      "\n%{http_code} %{content_type}",
      "-X",
      "PATCH",
      "-H",
      "content-type: application/json",
      "-d",
      '{"name":""}',
      `${api.base}/api/spells/3`,
    );
    const [problem, problemStatus] = invalid.stdout.split("\n");
    assert.equal(problemStatus, "422 application/problem+json");
    assert.deepEqual(JSON.parse(problem).errors, [{ field: "name", message: "must not be empty" }]);

    const file = await Deno.makeTempFile({ suffix: ".png" });
    try {
      await Deno.writeFile(file, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      const upload = await curl(
        "-w",
        "%{http_code}",
        "-o",
        "/dev/null",
        "-H",
        "content-type: image/png",
        "-T",
        file,
        `${api.base}/api/spells/3/image`,
      );
      assert.equal(upload.stdout, "200", upload.stderr);
      const download = await curl(
        "-w",
        " %{size_download} %{content_type}",
        "-o",
        "/dev/null",
        `${api.base}/api/spells/3/image`,
      );
      assert.equal(download.stdout.trim(), "8 image/png");
    } finally {
      await Deno.remove(file);
    }

    const psql = await runClient("psql", [
      "-h",
      "127.0.0.1",
      "-p",
      String(deps.datastore.port),
      "-U",
      "spells",
      "-d",
      "spells",
      "-At",
      "-c",
      "SELECT id, name, has_image FROM spells ORDER BY id",
    ], { timeoutMs: 20_000 });
    assert.equal(psql.code, 0, psql.stderr);
    assert.equal(psql.stdout.trim(), "1|Accio|f\n2|Lumos|f\n3|Wingardium Leviosa|t");

    await curl(`${api.base}/api/spells/1`);
    const cached = await runClient("redis-cli", ["-p", String(deps.cache.port), "GET", "spell:1"], {
      timeoutMs: 20_000,
    });
    assert.equal(JSON.parse(cached.stdout).name, "Accio");
  },
});
