// RecursiveService without sockets: prefetch and cache-only answers, with a
// controllable clock.

import assert from "node:assert/strict";
import { encodeMessage, wholeMessage } from "../../../lib/dns/codec.ts";
import {
  makeMessage,
  type Message,
  Opcode,
  type Question,
  Rcode,
  RecordClass,
  RecordType,
} from "../../../lib/dns/types.ts";
import { AccessList, DEFAULT_ALLOWED } from "../../../services/resolver/acl.ts";
import { RecordCache } from "../../../services/resolver/cache.ts";
import {
  DEFAULT_RESOLVER_LIMITS,
  Iterator,
  type Transport,
} from "../../../services/resolver/iterator.ts";
import { type Answered, RecursiveService } from "../../../services/resolver/recursive.ts";
import { ServerStats } from "../../../services/resolver/servers.ts";

const CLIENT = { address: "127.0.0.1", transport: "udp" as const };

function setup() {
  let nowMs = 1_000_000;
  const asked: string[] = [];
  const transport: Transport = {
    query(_server, question: Question) {
      asked.push(question.name);
      return Promise.resolve(makeMessage({
        qr: true,
        aa: true,
        questions: [question],
        answers: [{
          name: question.name,
          type: RecordType.A,
          class: RecordClass.IN,
          ttl: 100,
          data: { kind: "A", address: "127.0.0.7" },
        }],
      }));
    },
  };
  const cache = new RecordCache({}, () => nowMs);
  const iterator = new Iterator(
    {
      rootServers: [],
      stubs: [{ zone: "example.com.", servers: [{ address: "127.0.0.1", port: 1053 }] }],
      forwarders: [],
      limits: DEFAULT_RESOLVER_LIMITS,
    },
    transport,
    cache,
    new ServerStats(),
  );
  const service = new RecursiveService({
    iterator,
    cache,
    acl: new AccessList(DEFAULT_ALLOWED),
    now: () => nowMs,
  });
  return { service, asked, advance: (sec: number) => nowMs += sec * 1000 };
}

function query(name: string, rd = true): Uint8Array {
  return encodeMessage(
    makeMessage({ id: 7, rd, questions: [{ name, type: RecordType.A, class: RecordClass.IN }] }),
  );
}

async function reply(
  answered: Answered | undefined | Promise<Answered | undefined>,
): Promise<Message> {
  const result = await answered;
  assert.ok(result);
  return wholeMessage(result.reply);
}

Deno.test("RecursiveService answers cache hits synchronously", async () => {
  const { service } = setup();
  await reply(service.answer(query("www.example.com."), CLIENT));
  const second = service.answer(query("www.example.com."), CLIENT);
  assert.ok(!(second instanceof Promise));
  assert.equal((await reply(second)).answers.length, 1);
});

Deno.test("RecursiveService prefetches a name hit near the end of its TTL", async () => {
  const { service, asked, advance } = setup();
  await reply(service.answer(query("www.example.com."), CLIENT));
  assert.equal(asked.length, 1);
  advance(50);
  await reply(service.answer(query("www.example.com."), CLIENT));
  assert.equal(service.stats.prefetches, 0, "not yet: half the TTL is left");
  advance(45);
  const late = await reply(service.answer(query("www.example.com."), CLIENT));
  assert.equal(late.answers[0].ttl, 5, "the client gets the cached answer at once");
  assert.equal(service.stats.prefetches, 1);
  await service.settle();
  assert.equal(asked.length, 2, "refreshed in the background");
  const fresh = await reply(service.answer(query("www.example.com."), CLIENT));
  assert.equal(fresh.answers[0].ttl, 100);
});

Deno.test("RecursiveService answers RD=0 from the cache only, REFUSED on a miss", async () => {
  const { service, asked } = setup();
  const miss = await reply(service.answer(query("www.example.com.", false), CLIENT));
  assert.equal(miss.rcode, Rcode.REFUSED);
  assert.equal(asked.length, 0);
  await reply(service.answer(query("www.example.com."), CLIENT));
  const hit = await reply(service.answer(query("www.example.com.", false), CLIENT));
  assert.equal(hit.rcode, Rcode.NOERROR);
  assert.equal(hit.answers.length, 1);
});

Deno.test("RecursiveService never answers a response (no reflection loops)", () => {
  const { service } = setup();
  const response = encodeMessage(
    makeMessage({ id: 1, qr: true, questions: [{ name: "x.", type: 1, class: 1 }] }),
  );
  assert.equal(service.answer(response, CLIENT), undefined);
  assert.equal(service.answer(new Uint8Array(5), CLIENT), undefined);
});

Deno.test("RecursiveService answers NOTIMP to other opcodes for a name in its reply cache", async () => {
  const { service } = setup();
  await reply(service.answer(query("www.example.com."), CLIENT)); // resolved
  await reply(service.answer(query("www.example.com."), CLIENT)); // record cache, remembered
  const hit = await reply(service.answer(query("www.example.com."), CLIENT));
  assert.equal(hit.rcode, Rcode.NOERROR);
  assert.equal(service.stats.replyCacheHits, 1, "the name is in the reply cache");
  for (const opcode of [Opcode.UPDATE, Opcode.STATUS, Opcode.NOTIFY, 3, 15]) {
    const bytes = query("www.example.com.");
    bytes[2] = (bytes[2] & 0x87) | (opcode << 3);
    const answer = await reply(service.answer(bytes, CLIENT));
    assert.equal(answer.rcode, Rcode.NOTIMP, `opcode ${opcode}`);
    assert.equal(answer.opcode, opcode);
    assert.deepEqual(answer.answers, [], `opcode ${opcode}: no cached data`);
    assert.equal(answer.rd || answer.ra || answer.cd, false, `opcode ${opcode}: flags`);
  }
});
