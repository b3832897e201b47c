// SMTP smuggling over a raw socket (SEC Consult, December 2023): each
// published end-of-data variant is sent with a second, forged message
// behind it. None may end the data: the server answers once, at the real
// CRLF.CRLF, with 550 5.6.0, and no message (forged or not) is stored.

import assert from "node:assert/strict";
import { service } from "../../../services/smtp/mod.ts";
import { startService } from "../../_support/service.ts";
import { LineReader, send } from "./socket_driver.ts";

const VARIANTS: Record<string, string> = {
  "\\n.\\n": "\n.\n",
  "\\n.\\r\\n": "\n.\r\n",
  "\\r.\\r": "\r.\r",
  "\\r.\\r\\n": "\r.\r\n",
  "\\r\\n.\\r": "\r\n.\r",
  "\\r\\n.\\n": "\r\n.\n",
  "\\r\\r\\n.\\r\\r\\n": "\r\r\n.\r\r\n",
  "\\r\\n\\0.\\r\\n": "\r\n\0.\r\n",
  "\\r\\n.\\0\\r\\n": "\r\n.\0\r\n",
  "\\n\\n.\\n\\n": "\n\n.\n\n",
};

const FORGED = "MAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n" +
  "From: admin@example.test\r\nSubject: forged\r\n\r\nforged\r\n";

Deno.test("smtp does not end the data at any published smuggling sequence", async (t) => {
  await using smtp = await startService(service, { domain: ["example.test"] });
  const port = smtp.addresses.tcp.port;
  for (const [name, sequence] of Object.entries(VARIANTS)) {
    await t.step(name, async () => {
      using conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const reader = new LineReader(conn);
      await reader.reply();
      await send(
        conn,
        "HELO c\r\nMAIL FROM:<s@far.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n",
      );
      for (let i = 0; i < 3; i++) assert.match((await reader.reply())[0], /^250 /);
      assert.match((await reader.reply())[0], /^354 /);
      await send(conn, `Subject: real\r\n\r\nreal${sequence}${FORGED}.\r\nNOOP\r\n`);
      assert.match((await reader.reply())[0], /^550 5\.6\.0 /);
      assert.match((await reader.reply())[0], /^250 2\.0\.0 OK/, "the NOOP after the real end");
    });
  }
  const api = `http://127.0.0.1:${smtp.addresses.admin.port}/api`;
  assert.deepEqual(await (await fetch(`${api}/search`)).json(), []);
});
