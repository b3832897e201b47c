// The objects service's admin port: /healthz, /readyz (the data directory
// takes a synced write) and /metrics; the S3 port keeps every path for S3.

import assert from "node:assert/strict";
import { defaultConfig } from "../../../lib/cli.ts";
import { type FileLayer, realFiles } from "../../../lib/fs/file_layer.ts";
import { objectsFlags, service, startObjects } from "../../../services/objects/mod.ts";
import { startService } from "../../_support/service.ts";
import { S3TestClient, xmlField } from "./_s3.ts";

Deno.test("objects: /healthz, /readyz and /metrics on the admin port", async () => {
  await using svc = await startService(service);
  await using s3 = new S3TestClient(svc.addresses.http);
  await s3.text("PUT", "/metered");
  await s3.text("PUT", "/metered/one", { body: "1" });
  const admin = `http://127.0.0.1:${svc.addresses.admin.port}`;
  let response = await fetch(`${admin}/healthz`);
  assert.equal(response.status, 200);
  await response.body?.cancel();
  response = await fetch(`${admin}/readyz`);
  const ready = await response.json();
  assert.equal(response.status, 200);
  assert.equal(ready.checks.dataDir.ok, true);
  response = await fetch(`${admin}/metrics`);
  const metrics = await response.text();
  assert.match(metrics, /^objects_buckets 1$/m);
  assert.match(metrics, /^objects_objects\{bucket="metered"\} 1$/m);
  assert.match(metrics, /^http_requests_total\{method="PUT",status="200"\} 2$/m);
  // On the S3 port, /healthz is a bucket name like any other.
  const r = await s3.text("GET", "/healthz");
  assert.equal(xmlField(r.text, "Code"), "NoSuchBucket");
});

Deno.test("objects: /readyz fails when the data directory cannot be written", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-objects-ready-" });
  let writable = true;
  const files: FileLayer = {
    ...realFiles,
    open(path, options) {
      if (!writable && options?.create) throw new Deno.errors.PermissionDenied("read-only disk");
      return realFiles.open(path, options);
    },
  };
  const config = {
    ...defaultConfig(objectsFlags),
    port: 0,
    adminPort: 0,
    dataDir,
  };
  const svc = await startObjects(config, { files });
  try {
    const ready = () => fetch(`http://127.0.0.1:${svc.addresses.admin.port}/readyz`);
    let response = await ready();
    assert.equal(response.status, 200);
    await response.body?.cancel();
    writable = false;
    response = await ready();
    const body = await response.json();
    assert.equal(response.status, 503);
    assert.equal(body.checks.dataDir.ok, false);
    assert.match(body.checks.dataDir.detail, /read-only disk/);
  } finally {
    await svc.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
