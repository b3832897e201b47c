import assert from "node:assert/strict";
import { query, QueryError } from "../../../lib/dns/client.ts";
import { encodeMessage, wholeMessage } from "../../../lib/dns/codec.ts";
import { RecordType } from "../../../lib/dns/types.ts";
import { DEAD_PORT } from "../../_support/dead_port.ts";

Deno.test("query() ignores answers whose ID or question does not match", async () => {
  const fake = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (fake.addr as Deno.NetAddr).port;
  const served = (async () => {
    const [packet, peer] = await fake.receive();
    const q = wholeMessage(packet);
    const answer = {
      ...q,
      qr: true,
      aa: true,
      answers: [{
        name: q.questions[0].name,
        type: 1,
        class: 1,
        ttl: 5,
        data: { kind: "A" as const, address: "127.0.0.9" },
      }],
    };
    // Wrong ID, then the wrong question, then the real answer.
    await fake.send(encodeMessage({ ...answer, id: (q.id + 1) & 0xffff }), peer);
    const wrong = { ...answer.questions[0], name: "other.example." };
    await fake.send(encodeMessage({ ...answer, questions: [wrong] }), peer);
    await fake.send(encodeMessage(answer), peer);
  })();
  try {
    const result = await query({ hostname: "127.0.0.1", port }, "WWW.example.", RecordType.A, {
      timeoutMs: 10_000,
    });
    assert.equal(result.message.answers[0].data.kind, "A");
    assert.equal(result.transport, "udp");
  } finally {
    await served;
    fake.close();
  }
});

Deno.test("query() reports a timeout and a refused connection clearly", async () => {
  const port = DEAD_PORT;
  await assert.rejects(
    query({ hostname: "127.0.0.1", port }, "example.", RecordType.A, { timeoutMs: 200 }),
    (error: unknown) => error instanceof QueryError && error.reason === "timeout",
  );
  await assert.rejects(
    query({ hostname: "127.0.0.1", port }, "example.", RecordType.A, {
      tcp: true,
      timeoutMs: 5000,
    }),
    (error: unknown) => error instanceof QueryError && error.reason === "refused",
  );
});
