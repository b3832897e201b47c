// The malformed and hostile requests of server_hostile_test.ts, as a table
// other suites reuse (the load balancer must refuse the same ones, without
// forwarding them): the exact bytes, the status, and whether the connection
// stays open. Rows marked `fromApp` are answered by the test app
// (tests/lib/http/_app.ts), not refused by the parser.

export interface HostileCase {
  /** Answered by the test app (router, handler), not refused by the parser. */
  fromApp?: boolean;
  name: string;
  request: string;
  status: number;
  open: boolean;
  method?: string;
}

export const H = "Host: test\r\n";
const big = (n: number) => "a".repeat(n);
const manyHeaders = Array.from({ length: 101 }, (_, i) => `X-H${i}: v\r\n`).join("");

export const CASES: HostileCase[] = [
  // Smuggling: framing the server and a proxy could read differently.
  {
    name: "Content-Length and Transfer-Encoding together",
    request:
      `POST /echo HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "Transfer-Encoding before Content-Length",
    request:
      `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "two differing Content-Length fields",
    request: `POST /echo HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`,
    status: 400,
    open: false,
  },
  {
    name: "Content-Length list with differing values",
    request: `POST /echo HTTP/1.1\r\n${H}Content-Length: 3, 4\r\n\r\nabcd`,
    status: 400,
    open: false,
  },
  {
    name: "Content-Length not a number",
    request: `POST /echo HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "negative Content-Length",
    request: `POST /echo HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "Content-Length with a plus sign",
    request: `POST /echo HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`,
    status: 400,
    open: false,
  },
  {
    name: "Content-Length in hex",
    request: `POST /echo HTTP/1.1\r\n${H}Content-Length: 0x3\r\n\r\nabc`,
    status: 400,
    open: false,
  },
  {
    name: "Content-Length too long to be a number",
    request: `POST /echo HTTP/1.1\r\n${H}Content-Length: 99999999999999999999\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "identical Content-Length values are accepted",
    request: `POST /echo HTTP/1.1\r\n${H}Content-Length: 3, 3\r\n\r\nabc`,
    status: 200,
    open: true,
  },
  {
    name: "Transfer-Encoding gzip",
    request: `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`,
    status: 501,
    open: false,
  },
  {
    name: "Transfer-Encoding gzip, chunked",
    request: `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
    status: 501,
    open: false,
  },
  {
    name: "Transfer-Encoding chunked, identity",
    request: `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
    status: 501,
    open: false,
  },
  {
    name: "Transfer-Encoding xchunked",
    request: `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`,
    status: 501,
    open: false,
  },
  {
    name: "chunked applied twice",
    request:
      `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "empty Transfer-Encoding",
    request: `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: \r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "Transfer-Encoding in HTTP/1.0",
    request: `POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "space before the colon of Transfer-Encoding",
    request: `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
    open: false,
  },
  // Bad chunking.
  {
    name: "chunk size not hex",
    request: `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "negative chunk size",
    request: `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\na\r\n0\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "chunk size that overflows",
    request:
      `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\na\r\n0\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "chunk size with a 0x prefix",
    request: `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x2\r\nab\r\n0\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "chunk longer than its size",
    request: `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "chunk size line ending in bare LF",
    request: `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "space before the chunk size",
    request: `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n 2\r\nab\r\n0\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "bad trailer field",
    request:
      `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nbad trailer\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "chunk extensions and trailers are fine",
    request:
      `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2;ext=1\r\nab\r\n0\r\nX-T: 1\r\n\r\n`,
    status: 200,
    open: true,
  },
  // Oversized parts.
  {
    name: "request line over 8 KiB",
    request: `GET /${big(9000)} HTTP/1.1\r\n${H}\r\n`,
    status: 414,
    open: false,
  },
  {
    name: "header section over 32 KiB",
    request: `GET / HTTP/1.1\r\n${H}X-Big: ${big(33 * 1024)}\r\n\r\n`,
    status: 431,
    open: false,
  },
  {
    name: "more than 100 header fields",
    request: `GET / HTTP/1.1\r\n${H}${manyHeaders}\r\n`,
    status: 431,
    open: false,
  },
  {
    name: "Content-Length over the route's limit",
    fromApp: true,
    request: `POST /small HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\n${big(100)}`,
    status: 413,
    open: false,
  },
  {
    name: "chunked body over the route's limit",
    fromApp: true,
    request: `POST /small HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n20\r\n${
      big(32)
    }\r\n0\r\n\r\n`,
    status: 413,
    open: false,
  },
  // Bad bytes and grammar.
  {
    name: "no Host in HTTP/1.1",
    request: "GET / HTTP/1.1\r\n\r\n",
    status: 400,
    open: false,
  },
  {
    name: "two Host fields",
    request: `GET / HTTP/1.1\r\n${H}${H}\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "Host with a space",
    request: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    status: 400,
    open: false,
  },
  {
    name: "NUL in a header value",
    request: `GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "CR inside a header value",
    request: `GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "space before a colon",
    request: `GET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "obs-fold",
    request: `GET / HTTP/1.1\r\n${H}X-A: b\r\n  folded\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "bare LF line endings",
    request: "GET / HTTP/1.1\nHost: test\n\n",
    status: 400,
    open: false,
  },
  {
    name: "header name with a bad character",
    request: `GET / HTTP/1.1\r\n${H}X(A): b\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "header line without a colon",
    request: `GET / HTTP/1.1\r\n${H}NoColon\r\n\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "method with a bad character",
    request: `G@T / HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "two spaces in the request line",
    request: `GET  / HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "NUL in the request target",
    request: `GET /a\0b HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "high byte in the request target",
    request: `GET /caf\xe9 HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "target that is no form at all",
    request: `GET foo HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "garbage version",
    request: `GET / HTTP/1.1x\r\n${H}\r\n`,
    status: 400,
    open: false,
  },
  {
    name: "HTTP/2.0 in an HTTP/1 request line",
    request: `GET / HTTP/2.0\r\n${H}\r\n`,
    status: 505,
    open: false,
  },
  {
    name: "CONNECT",
    request: `CONNECT example.com:443 HTTP/1.1\r\n${H}\r\n`,
    status: 501,
    open: false,
  },
  {
    name: "unknown expectation",
    request: `POST /echo HTTP/1.1\r\n${H}Expect: 200-ok\r\nContent-Length: 2\r\n\r\nab`,
    status: 417,
    open: false,
  },
  // Errors that keep the connection.
  {
    fromApp: true,
    name: "unknown path",
    request: `GET /nope HTTP/1.1\r\n${H}\r\n`,
    status: 404,
    open: true,
  },
  {
    fromApp: true,
    name: "wrong method",
    request: `DELETE / HTTP/1.1\r\n${H}\r\n`,
    status: 405,
    open: true,
  },
  {
    name: "invalid JSON body",
    fromApp: true,
    request:
      `POST /json HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: 5\r\n\r\n{"a":`,
    status: 400,
    open: true,
  },
  {
    name: "handler that throws (no stack trace leaks)",
    fromApp: true,
    request: `GET /boom HTTP/1.1\r\n${H}\r\n`,
    status: 500,
    open: true,
  },
  {
    name: "handler that returns no response",
    fromApp: true,
    request: `GET /nothing HTTP/1.1\r\n${H}\r\n`,
    status: 500,
    open: true,
  },
  {
    name: "bad percent-encoding in a path parameter",
    fromApp: true,
    request: `GET /spells/%zz HTTP/1.1\r\n${H}\r\n`,
    status: 400,
    open: true,
  },
  {
    name: "body the handler ignores",
    request: `POST /ignore HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`,
    status: 200,
    open: true,
  },
  {
    name: "chunked body the handler ignores",
    request:
      `POST /ignore HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 200,
    open: true,
  },
  {
    name: "empty lines before the request line",
    request: `\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`,
    status: 200,
    open: true,
  },
  {
    name: "absolute-form target",
    request: `GET http://test/spells/7 HTTP/1.1\r\n${H}\r\n`,
    status: 200,
    open: true,
  },
  {
    name: "HTTP/1.0 without keep-alive closes",
    request: "GET / HTTP/1.0\r\n\r\n",
    status: 200,
    open: false,
  },
  {
    name: "HTTP/1.0 with keep-alive stays",
    request: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    status: 200,
    open: true,
  },
  {
    name: "Connection: close",
    request: `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    status: 200,
    open: false,
  },
  { name: "HEAD", request: `HEAD / HTTP/1.1\r\n${H}\r\n`, status: 200, open: true, method: "HEAD" },
];
