// A response with Content-Length: 0 has an empty body: the client must not
// read it until the connection closes (it did, waiting for the server's idle
// timeout, 5 s, on every empty answer such as S3's PUT).

import assert from "node:assert/strict";
import { HttpClient } from "../../../lib/http/client.ts";
import { serveHttp } from "../../../lib/http/server.ts";

Deno.test("HttpClient reads a Content-Length: 0 body as empty and reuses the connection", async () => {
  await using server = serveHttp({
    port: 0,
    idleTimeoutMs: 60_000,
    handler: (request) => ({ status: 200, headers: { "x-method": request.method }, body: null }),
  });
  const client = new HttpClient();
  try {
    for (const method of ["PUT", "GET", "DELETE"]) {
      const response = await client.request(`http://127.0.0.1:${server.addr.port}/`, {
        method,
        body: method === "PUT" ? "" : null,
      });
      assert.equal(response.headers.get("content-length"), "0");
      // Read to its end without waiting for a close (the server keeps the connection 60 s).
      assert.equal(await response.text(), "");
    }
    assert.equal(client.idleConnections, 1);
  } finally {
    await client.close();
  }
});
