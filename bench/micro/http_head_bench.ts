// Micro-benchmarks of the pure HTTP codecs: decoding the request head wrk
// sends, a browser-sized head, and a chunked body, so changes to head.ts and
// chunked.ts can be compared in isolation from the network.
//
//   deno bench bench/micro/http_head_bench.ts

import { fromAscii } from "../../lib/bytes.ts";
import { ChunkedDecoder } from "../../lib/http/chunked.ts";
import { decodeRequestHead } from "../../lib/http/head.ts";

const WRK = fromAscii("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
const BROWSER = fromAscii(
  "GET /api/spells/42?expand=author HTTP/1.1\r\nHost: localhost:8080\r\n" +
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
    "Accept: application/json, text/plain, */*\r\nAccept-Language: en-US,en;q=0.5\r\n" +
    "Accept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\n" +
    "Cookie: session=0123456789abcdef; theme=dark\r\nSec-Fetch-Mode: cors\r\n\r\n",
);
const CHUNKED = fromAscii("400\r\n" + "x".repeat(1024) + "\r\n".repeat(1) + "0\r\n\r\n");

Deno.bench({
  name: "decodeRequestHead: wrk's request",
  group: "head",
  baseline: true,
  fn() {
    decodeRequestHead(WRK);
  },
});

Deno.bench({
  name: "decodeRequestHead: browser-sized request",
  group: "head",
  fn() {
    decodeRequestHead(BROWSER);
  },
});

Deno.bench({
  name: "ChunkedDecoder: one 1 KiB chunk",
  fn() {
    new ChunkedDecoder().push(CHUNKED, []);
  },
});
