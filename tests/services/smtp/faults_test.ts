// Fault injection and the connection rate limit, set through the admin API.

import assert from "node:assert/strict";
import { service } from "../../../services/smtp/mod.ts";
import { startService } from "../../_support/service.ts";
import { LineReader, send } from "./socket_driver.ts";

async function post(url: string, method: string, body: unknown): Promise<Response> {
  return await fetch(url, {
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

Deno.test("injected faults fail the next N commands of a kind, then stop", async () => {
  await using smtp = await startService(service, { domain: ["example.test"] });
  const admin = `http://127.0.0.1:${smtp.addresses.admin.port}/api`;
  const added = await post(`${admin}/faults`, "POST", {
    command: "RCPT",
    count: 2,
    code: 451,
    enhanced: "4.3.0",
    text: "try later",
  });
  assert.equal(added.status, 201);
  await added.body?.cancel();
  const end = await post(`${admin}/faults`, "POST", { command: "DATA-END", code: 554 });
  await end.body?.cancel();
  const bad = await post(`${admin}/faults`, "POST", { command: "RCPT", code: 250 });
  assert.equal(bad.status, 400);
  await bad.body?.cancel();

  using conn = await Deno.connect({ hostname: "127.0.0.1", port: smtp.addresses.tcp.port });
  const reader = new LineReader(conn);
  await reader.reply();
  await send(
    conn,
    "HELO c\r\nMAIL FROM:<s@far.test>\r\nRCPT TO:<a@example.test>\r\n" +
      "RCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n",
  );
  const expected = [
    /^250 /,
    /^250 2\.1\.0/,
    /^451 4\.3\.0 try later/,
    /^451 4\.3\.0/,
    /^250 2\.1\.5/,
    /^354 /,
  ];
  for (const pattern of expected) assert.match((await reader.reply())[0], pattern);
  await send(conn, "Subject: x\r\n\r\nx\r\n.\r\n");
  assert.match((await reader.reply())[0], /^554 5\.0\.0 Injected failure/);
  // The rules are used up: the same transaction now succeeds.
  await send(conn, "MAIL FROM:<s@far.test>\r\nRCPT TO:<a@example.test>\r\nDATA\r\n");
  for (let i = 0; i < 2; i++) assert.match((await reader.reply())[0], /^250 /);
  assert.match((await reader.reply())[0], /^354 /);
  await send(conn, "Subject: y\r\n\r\ny\r\n.\r\n");
  assert.match((await reader.reply())[0], /^250 2\.0\.0 OK/);
  const state = await (await fetch(`${admin}/faults`)).json();
  assert.deepEqual(state.rules, []);
  const found = await (await fetch(`${admin}/search`)).json();
  assert.deepEqual(found.map((m: { subject: string }) => m.subject), ["y"]);
});

Deno.test("the connection rate limit answers 421 past N connections a minute", async () => {
  await using smtp = await startService(service, { domain: ["example.test"] });
  const admin = `http://127.0.0.1:${smtp.addresses.admin.port}/api`;
  const set = await post(`${admin}/rate-limit`, "PUT", { connectionsPerMinute: 2 });
  assert.equal(set.status, 200);
  await set.body?.cancel();
  const port = smtp.addresses.tcp.port;
  for (let i = 0; i < 2; i++) {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.match((await new LineReader(conn).reply())[0], /^220 /);
  }
  using third = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new LineReader(third);
  assert.match((await reader.reply())[0], /^421 4\.7\.0 /);
  assert.ok(await reader.closedByServer());
  const cleared = await fetch(`${admin}/faults`, { method: "DELETE" });
  assert.equal(cleared.status, 204);
  await cleared.body?.cancel();
  using fourth = await Deno.connect({ hostname: "127.0.0.1", port });
  assert.match((await new LineReader(fourth).reply())[0], /^220 /);
});
