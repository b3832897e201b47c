// The byte-level fast path of decodeRequestHead against its string-based
// reference (interpretRequest), and the per-connection FieldsMemo: a head
// decoded through the memo must be exactly the head decoded without it,
// however the bytes arrive and whatever came before.

import assert from "node:assert/strict";
import { type Bytes, concat, fromAscii } from "../../../lib/bytes.ts";
import { toWireError } from "../../../lib/http/errors.ts";
import {
  decodeRequestHead,
  DEFAULT_LIMITS,
  FieldsMemo,
  interpretRequest,
  type RequestHead,
} from "../../../lib/http/head.ts";
import { HttpHeaders } from "../../../lib/http/headers.ts";
import { type Decoded, INCOMPLETE, isIncomplete } from "../../../lib/decode.ts";
import { splitEveryWay } from "../../_support/split.ts";

/** Field sections the fast path reads itself, and ones it hands to the reference. */
const FIELDS: string[] = [
  "Host: h\r\n",
  "Host: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n",
  "host: H\r\nCONNECTION: Close\r\n",
  "Host: h\r\nConnection: keep-alive\r\n",
  "Host: h\r\nConnection:  Keep-Alive ,  Upgrade \r\n",
  "Host: h\r\nConnection: closed\r\n",
  "Host: h\r\nConnection: x, close\r\n",
  "Host: h\r\nConnection: ,,\r\n",
  "Host: h\r\nConnection: close\xa0\r\n",
  "Connection: keep-alive\r\n",
  "",
  "Host: h\r\nContent-Length: 0\r\n",
  "Host: h\r\nContent-Length: 12\r\n",
  "Host: h\r\nContent-Length: 000000000000042\r\n",
  "Host: h\r\nContent-Length: 5, 5\r\n",
  "Host: h\r\nContent-Length: 5, 6\r\n",
  "Host: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n",
  "Host: h\r\nContent-Length: -1\r\n",
  "Host: h\r\nContent-Length: 1234567890123456\r\n",
  "Host: h\r\nContent-Length:\r\n",
  "Host: h\r\nTransfer-Encoding: chunked\r\n",
  "Host: h\r\nTransfer-Encoding: gzip, chunked\r\n",
  "Host: h\r\nExpect: 100-Continue\r\n",
  "Host: h\r\nHost: h\r\n",
  "Host: a b\r\n",
  "Host: h\xe9\r\n",
  "Host: h\r\nX-Name: caf\xe9 au lait, cr\xe8me br\xfbl\xe9e \x80\x9f\xff\r\n",
  "Host:\r\n",
  "Hosts: h\r\nContent-Lengths: 5\r\nConnections: close\r\n",
];

const LINES: string[] = [
  "GET / HTTP/1.1",
  "GET / HTTP/1.0",
  "POST /spells?x=1&y=?2 HTTP/1.1",
  "PURGE /a HTTP/1.1",
  "OPTIONS * HTTP/1.1",
  "GET http://h/p?q HTTP/1.1",
  "get / HTTP/1.1",
];

/** What the reference says: the head, or the status of the error. */
function reference(line: string, fields: string): RequestHead | number {
  const [method, target, versionText] = line.split(" ");
  const headers = new HttpHeaders();
  for (const fieldLine of fields.split("\r\n").filter((l) => l !== "")) {
    const colon = fieldLine.indexOf(":");
    headers.append(
      fieldLine.slice(0, colon),
      fieldLine.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, ""),
    );
  }
  try {
    return interpretRequest(method, target, versionText === "HTTP/1.0" ? "1.0" : "1.1", headers);
  } catch (error) {
    return toWireError(error).status;
  }
}

function decodeOrStatus(input: Bytes, memo?: FieldsMemo): RequestHead | number {
  try {
    const decoded = decodeRequestHead(input, DEFAULT_LIMITS, 0, input.length, memo);
    assert.ok(!isIncomplete(decoded), "complete head not decoded");
    assert.equal(decoded.bytesUsed, input.length);
    return decoded.value;
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return toWireError(error).status;
  }
}

function comparable(result: RequestHead | number) {
  if (typeof result === "number") return result;
  return { ...result, headers: [...result.headers] };
}

function latin1Bytes(text: string): Bytes {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

Deno.test({
  name: "the fast path agrees with interpretRequest on every line and field section",
  permissions: "none",
  fn() {
    for (const line of LINES) {
      for (const fields of FIELDS) {
        const input = latin1Bytes(`${line}\r\n${fields}\r\n`);
        const label = JSON.stringify(`${line}\r\n${fields}`);
        const expected = comparable(reference(line, fields));
        assert.deepEqual(comparable(decodeOrStatus(input)), expected, label);
        // Through a memo, cold and then warm.
        const memo = new FieldsMemo();
        assert.deepEqual(comparable(decodeOrStatus(input, memo)), expected, `${label} cold memo`);
        assert.deepEqual(comparable(decodeOrStatus(input, memo)), expected, `${label} warm memo`);
      }
    }
  },
});

Deno.test({
  name: "a memo warmed by one request never changes how the next one decodes",
  permissions: "none",
  fn() {
    // Every pair (previous, next): decoding next through a memo warmed by
    // previous gives what decoding next alone gives.
    const heads = FIELDS.map((fields) => latin1Bytes(`GET /a HTTP/1.1\r\n${fields}\r\n`));
    for (const previous of heads) {
      for (const next of heads) {
        const memo = new FieldsMemo();
        decodeOrStatus(previous, memo);
        assert.deepEqual(comparable(decodeOrStatus(next, memo)), comparable(decodeOrStatus(next)));
      }
    }
  },
});

Deno.test({
  name: "with a warm memo every strict prefix is still incomplete, split every way",
  permissions: "none",
  fn() {
    const input = fromAscii(
      "GET /x?y HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\nContent-Length: 3\r\n\r\n",
    );
    const memo = new FieldsMemo();
    decodeRequestHead(input, DEFAULT_LIMITS, 0, input.length, memo);
    for (const { label, chunks } of splitEveryWay(input)) {
      let received: Bytes = new Uint8Array(0);
      let result: Decoded<RequestHead> = INCOMPLETE;
      for (const chunk of chunks) {
        assert.ok(isIncomplete(result), `${label}: decoded before the last chunk`);
        received = concat([received, chunk]);
        result = decodeRequestHead(received, DEFAULT_LIMITS, 0, received.length, memo);
      }
      assert.ok(!isIncomplete(result), label);
      assert.equal(result.bytesUsed, input.length);
      assert.deepEqual(result.value.framing, { kind: "length", length: 3 });
      assert.equal(result.value.path, "/x");
    }
  },
});

Deno.test({
  name: "remembered fields after a longer request line still meet the header section limit",
  permissions: "none",
  fn() {
    const limits = { ...DEFAULT_LIMITS, headerBytes: 100 };
    const fields = `Host: h\r\nX: ${"a".repeat(60)}\r\n\r\n`;
    const short = fromAscii(`GET / HTTP/1.1\r\n${fields}`);
    const long = fromAscii(`GET /${"b".repeat(40)} HTTP/1.1\r\n${fields}`);
    const memo = new FieldsMemo();
    assert.ok(!isIncomplete(decodeRequestHead(short, limits, 0, short.length, memo)));
    assert.throws(
      () => decodeRequestHead(long, limits, 0, long.length, memo),
      (e) => toWireError(e).status === 431,
    );
    assert.throws(() => decodeRequestHead(long, limits), (e) => toWireError(e).status === 431);
  },
});

Deno.test({
  name: "heads decoded through one memo have headers of their own",
  permissions: "none",
  fn() {
    const input = fromAscii("GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\n\r\n");
    const memo = new FieldsMemo();
    const first = complete(decodeRequestHead(input, DEFAULT_LIMITS, 0, input.length, memo)).value;
    const second = complete(decodeRequestHead(input, DEFAULT_LIMITS, 0, input.length, memo)).value;
    first.headers.set("accept", "changed");
    first.headers.append("x-added", "1");
    assert.equal(second.headers.get("accept"), "a");
    assert.equal(second.headers.has("x-added"), false);
    assert.deepEqual([...second.headers], [["Host", "h"], ["Accept", "a"]]);
  },
});

Deno.test({
  name: "decodeRequestHead() reads only buf[from, to) and counts bytesUsed from `from`",
  permissions: "none",
  fn() {
    const head = "GET /p HTTP/1.1\r\nHost: h\r\n\r\n";
    // Stale bytes after `to` (an earlier, longer request) must not complete the head.
    const buf = fromAscii(`xxGET /p HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\n\r\n`);
    const decoded = decodeRequestHead(buf, DEFAULT_LIMITS, 2, 2 + head.length);
    assert.ok(!isIncomplete(decoded));
    assert.equal(decoded.bytesUsed, head.length);
    assert.equal(decoded.value.path, "/p");
    assert.ok(isIncomplete(decodeRequestHead(buf, DEFAULT_LIMITS, 2, 2 + head.length - 1)));
    assert.ok(isIncomplete(decodeRequestHead(buf, DEFAULT_LIMITS, 2, 2 + head.length - 2)));
  },
});

Deno.test({
  name: "random field sections: the fast path, warm or cold, agrees with the reference",
  permissions: "none",
  fn() {
    const pool = FIELDS.flatMap((fields) => fields.split("\r\n").filter((l) => l !== ""));
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const memo = new FieldsMemo();
    for (let i = 0; i < 3000; i++) {
      const line = LINES[random(LINES.length)];
      const count = random(5);
      let fields = "";
      for (let f = 0; f < count; f++) fields += pool[random(pool.length)] + "\r\n";
      const input = latin1Bytes(`${line}\r\n${fields}\r\n`);
      const expected = comparable(reference(line, fields));
      assert.deepEqual(comparable(decodeOrStatus(input, memo)), expected, JSON.stringify(fields));
    }
  },
});

Deno.test({
  name: "headers answer lookups before and after their strings are cut alike",
  permissions: "none",
  fn() {
    const input = fromAscii(
      "GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nX-Id: 1\r\naccept: b\r\nACCEPT-Language: en\r\n" +
        "X-Empty:\r\n\r\n",
    );
    const names = [
      "accept",
      "ACCEPT",
      "Accept-Language",
      "x-id",
      "x-empty",
      "host",
      "missing",
      "acc",
    ];
    for (const name of names) {
      const uncut = complete(decodeRequestHead(input)).value.headers;
      const cut = new HttpHeaders(complete(decodeRequestHead(input)).value.headers);
      assert.equal(uncut.get(name), cut.get(name), name);
      assert.deepEqual(uncut.getAll(name), cut.getAll(name), name);
      assert.equal(uncut.has(name), cut.has(name), name);
      assert.equal(uncut.count(name), cut.count(name), name);
    }
    const headers = complete(decodeRequestHead(input)).value.headers;
    assert.equal(headers.get("accept"), "a, b");
    assert.equal(headers.get("x-empty"), "");
    // Lookups leave the fields as they are; a change cuts them and is seen after.
    headers.set("Accept", "c");
    assert.deepEqual(headers.getAll("accept"), ["c"]);
    assert.equal(headers.size, 5);
  },
});

function complete<T>(result: Decoded<T>): { value: T; bytesUsed: number } {
  if (isIncomplete(result)) throw new Error("incomplete");
  return result;
}
