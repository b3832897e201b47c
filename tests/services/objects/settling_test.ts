// An overwrite between its rename and its directory fsync ("settling",
// services/objects/store.ts): the new file is in place, the index still
// holds the old metadata. A GET in that window must not pair the two: it
// waits and serves the new version whole. The directory fsync is held open
// by a gate in the file layer, so the window lasts as long as the test
// wants.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { defaultConfig } from "../../../lib/cli.ts";
import { type FileLayer, realFiles } from "../../../lib/fs/file_layer.ts";
import { objectsFlags, startObjects } from "../../../services/objects/mod.ts";
import { S3TestClient } from "./_s3.ts";

Deno.test("objects: a GET during an overwrite's directory fsync gets one version whole", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-objects-settling-" });
  let gate: Promise<void> | undefined;
  let openGate = () => {};
  let syncStarted = () => {};
  const started = new Promise<void>((resolve) => syncStarted = resolve);
  const files: FileLayer = {
    ...realFiles,
    async syncDirectoryAsync(dir) {
      if (gate !== undefined && dir.endsWith("/settle")) {
        syncStarted();
        await gate;
      }
      await realFiles.syncDirectoryAsync!(dir);
    },
  };
  const config = { ...defaultConfig(objectsFlags), port: 0, adminPort: 0, dataDir };
  const svc = await startObjects(config, { files });
  const s3 = new S3TestClient(svc.addresses.http);
  const writer = new S3TestClient(svc.addresses.http);
  try {
    assert.equal((await s3.text("PUT", "/settle")).status, 200);
    const v1 = new Uint8Array(3000).fill(1);
    const v2 = new Uint8Array(5000).fill(2);
    assert.equal((await s3.text("PUT", "/settle/k", { body: v1 })).status, 200);
    gate = new Promise((resolve) => openGate = resolve);
    const overwrite = writer.text("PUT", "/settle/k", { body: v2 });
    await started; // v2 is renamed into place; its directory fsync waits at the gate
    const get = s3.send("GET", "/settle/k");
    // Without the wait for settling the GET is answered now, inside the
    // window; with it, only once the gate opens. Give it a moment either way.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([get, new Promise((resolve) => timer = setTimeout(resolve, 300))]);
    clearTimeout(timer);
    openGate();
    const response = await get;
    const body = new Uint8Array(await response.arrayBuffer());
    assert.equal(response.status, 200);
    const etag = response.headers.get("etag")?.replaceAll('"', "");
    assert.equal(createHash("md5").update(body).digest("hex"), etag, "content and ETag disagree");
    assert.deepEqual(body, v2);
    assert.equal((await overwrite).status, 200);
  } finally {
    openGate();
    await s3.close();
    await writer.close();
    await svc.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
