// The `lb` command as a real process: SIGHUP reloads the file (and a broken
// file is logged and ignored), every request gets a JSON access log line
// with --log-format json, the quick --backend flag works, and SIGTERM drains
// and exits 0.

import assert from "node:assert/strict";
import { HttpClient } from "../../../lib/http/client.ts";
import { spawnService } from "../../_support/subprocess.ts";
import { get, startBackend, waitFor } from "./_support.ts";

Deno.test("lb process reloads on SIGHUP, logs JSON access lines, and exits 0 on SIGTERM", async () => {
  const a = startBackend("a");
  const b = startBackend("b");
  const file = await Deno.makeTempFile({ suffix: ".json" });
  const config = (url: string) => ({ pools: { web: { backends: [url] } }, defaultPool: "web" });
  await Deno.writeTextFile(file, JSON.stringify(config(a.url)));
  const lb = await spawnService(
    ["lb", "--port", "0", "--admin-port", "0", "--config", file, "--log-format", "json"],
    { roles: ["http", "admin"] },
  );
  const client = new HttpClient();
  try {
    const url = `http://127.0.0.1:${lb.ports.http}/x`;
    assert.equal(((await get(client, url)).body as { name: string }).name, "a");
    await Deno.writeTextFile(file, JSON.stringify(config(b.url)));
    lb.kill("SIGHUP");
    await waitFor(
      async () => ((await get(client, url)).body as { name: string }).name === "b",
      "reload",
    );
    await Deno.writeTextFile(file, "{ broken");
    lb.kill("SIGHUP");
    await waitFor(
      () => lb.lines.some((l) => l.includes("reload failed")),
      "the reload error logged",
    );
    assert.equal(((await get(client, url)).body as { name: string }).name, "b", "old config kept");
    const access = lb.lines.map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return undefined;
      }
    }).filter((r) => r?.logger === "underhood.lb.access");
    assert.ok(access.length >= 3, `${access.length} access lines`);
    assert.equal(access[0].method, "GET");
    assert.equal(access[0].target, "/x");
    assert.equal(access[0].status, 200);
    assert.equal(access[0].backend, a.url);
  } finally {
    await client.close();
    lb.kill("SIGTERM");
    const status = await lb.exited();
    assert.equal(status.code, 0);
    await a.close();
    await b.close();
    await Deno.remove(file);
  }
});

Deno.test("lb process with --backend balances without a file, and refuses nothing to balance", async () => {
  const a = startBackend("a");
  const lb = await spawnService(["lb", "--port", "0", "--admin-port", "0", "--backend", a.url], {
    roles: ["http"],
  });
  const client = new HttpClient();
  try {
    assert.equal((await get(client, `http://127.0.0.1:${lb.ports.http}/`)).status, 200);
  } finally {
    await client.close();
    lb.kill("SIGTERM");
    assert.equal((await lb.exited()).code, 0);
    await a.close();
  }
  const bare = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../../main.ts", import.meta.url).pathname, "lb", "--port", "0"],
    stdout: "piped",
    stderr: "piped",
  });
  const result = await bare.output();
  assert.equal(result.code, 1);
  assert.match(
    new TextDecoder().decode(result.stderr) + new TextDecoder().decode(result.stdout),
    /nothing to balance/,
  );
});
