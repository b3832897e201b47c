// The smtp service as a real process: it logs where it listens, answers, and
// on SIGTERM says 421 to an idle client, drains and exits 0.

import assert from "node:assert/strict";
import { spawnService } from "../../_support/subprocess.ts";
import { LineReader, send } from "./socket_driver.ts";

Deno.test("smtp process answers, then says 421 to idle clients and exits 0 on SIGTERM", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "underhood-smtp-life-" });
  const smtp = await spawnService([
    "smtp",
    "--port=0",
    "--admin-port=0",
    `--data-dir=${dataDir}`,
  ], { roles: ["tcp", "submission", "admin"] });
  try {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: smtp.ports.tcp });
    const reader = new LineReader(conn);
    assert.match((await reader.reply())[0], /^220 localhost ESMTP/);
    await send(conn, "NOOP\r\n");
    assert.match((await reader.reply())[0], /^250 /);
    smtp.kill("SIGTERM");
    assert.match((await reader.reply())[0], /^421 4\.3\.2 /);
    assert.equal((await smtp.exited()).code, 0);
  } finally {
    smtp.kill();
    await smtp.exited();
    await Deno.remove(dataDir, { recursive: true });
  }
});
