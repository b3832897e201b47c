import assert from "node:assert/strict";
import { listenBoth } from "./listen_both.ts";

Deno.test("listenBoth() binds TCP and UDP on one port; a given port taken on UDP is an error", () => {
  const { listener, socket } = listenBoth("127.0.0.1", 0);
  try {
    assert.equal((socket.addr as Deno.NetAddr).port, listener.addr.port);
  } finally {
    listener.close();
    socket.close();
  }
  const taken = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    assert.throws(() => listenBoth("127.0.0.1", port), Deno.errors.AddrInUse);
    // The TCP listener of the failed attempt was released.
    Deno.listen({ hostname: "127.0.0.1", port }).close();
  } finally {
    taken.close();
  }
});
