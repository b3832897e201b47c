// lib/smtp: command lines, replies and the DATA and BDAT body machines.
// Golden inputs go through assertDecodesEveryWay (whole, at an offset, every
// prefix incomplete, split at every point and byte by byte: STYLE.md habit 3).

import assert from "node:assert/strict";
import { ascii, type Bytes, concat, fromAscii } from "../../../lib/bytes.ts";
import { type Decoded, INCOMPLETE } from "../../../lib/decode.ts";
import { DecodeError, LimitError } from "../../../lib/errors.ts";
import {
  type CommandLine,
  decodeCommandLine,
  DEFAULT_COMMAND_LIMITS,
  parseCommand,
} from "../../../lib/smtp/command.ts";
import { ChunkReader, DotDecoder, DotEncoder } from "../../../lib/smtp/data.ts";
import {
  decodeReply,
  DEFAULT_REPLY_LIMITS,
  formatReply,
  type Reply,
  reply,
} from "../../../lib/smtp/reply.ts";
import { assertDecodesEveryWay, splitEveryWay } from "../../_support/split.ts";

const line = (buf: Bytes, from: number, to: number): Decoded<CommandLine> =>
  decodeCommandLine(buf, DEFAULT_COMMAND_LIMITS, from, to);
const replyOf = (buf: Bytes, from: number, to: number): Decoded<Reply> =>
  decodeReply(buf, DEFAULT_REPLY_LIMITS, from, to);

interface Body {
  text: string;
  bareLineEnds: boolean;
  nul: boolean;
  tooLarge: boolean;
}

/** The DATA machine under the decoder contract, so golden cases split every way. */
function dataOf(sizeBytesMax = 1 << 20) {
  return (buf: Bytes, from: number, to: number): Decoded<Body> => {
    const parts: Bytes[] = [];
    const machine = new DotDecoder({ sizeBytesMax, onData: (b) => parts.push(b.slice()) });
    const used = machine.push(buf, from, to);
    if (!machine.done) return INCOMPLETE;
    return {
      value: {
        text: ascii(concat(parts)),
        bareLineEnds: machine.bareLineEnds,
        nul: machine.nul,
        tooLarge: machine.tooLarge,
      },
      bytesUsed: used,
    };
  };
}

Deno.test("decodeCommandLine() reads verb and arguments, verb upper-cased", () => {
  const value = assertDecodesEveryWay(line, fromAscii("mail FROM:<a@b.example> SIZE=10\r\n"));
  assert.deepEqual(value, {
    verb: "MAIL",
    args: "FROM:<a@b.example> SIZE=10",
    text: "mail FROM:<a@b.example> SIZE=10",
  });
  const quit = assertDecodesEveryWay(line, fromAscii("QUIT\r\nNOOP\r\n"), { bytesUsed: 6 });
  assert.deepEqual(quit, { verb: "QUIT", args: "", text: "QUIT" });
});

Deno.test("decodeCommandLine() refuses bare LF, bare CR and NUL", () => {
  for (const text of ["NOOP\n", "NO\rOP\r\n", "NO\0OP\r\n"]) {
    assert.throws(() => line(fromAscii(text), 0, text.length), DecodeError, JSON.stringify(text));
  }
});

Deno.test("decodeCommandLine() bounds the line at lineBytesMax with its CRLF", () => {
  const limits = { lineBytesMax: 8 };
  const fits = fromAscii("NOOP12\r\n");
  assert.equal((decodeCommandLine(fits, limits) as { bytesUsed: number }).bytesUsed, 8);
  assert.throws(() => decodeCommandLine(fromAscii("NOOP123\r\n"), limits), LimitError);
  assert.throws(() => decodeCommandLine(fromAscii("NOOP1234"), limits), LimitError);
  assert.equal(decodeCommandLine(fromAscii("NOOP123"), limits).incomplete, true);
});

Deno.test("parseCommand() reads paths and parameters", () => {
  const mail = parseCommand({ verb: "MAIL", args: "FROM:<a@b.example> SIZE=1000 BODY=8BITMIME" });
  assert.equal(mail.kind, "MAIL");
  if (mail.kind === "MAIL") {
    assert.equal(mail.from, "a@b.example");
    assert.deepEqual([...mail.params], [["SIZE", "1000"], ["BODY", "8BITMIME"]]);
  }
  const bounce = parseCommand({ verb: "MAIL", args: "FROM:<>" });
  assert.deepEqual(bounce.kind === "MAIL" && bounce.from, "");
  const spaced = parseCommand({ verb: "RCPT", args: "TO: <@relay.example:u@d.example>" });
  assert.equal(spaced.kind === "RCPT" && spaced.to, "u@d.example");
  const utf8 = parseCommand({ verb: "RCPT", args: "TO:<用户@例子.example>" });
  assert.equal(utf8.kind, "RCPT");
  for (
    const args of ["TO:<>", "TO:u@d.example", "TO:<u d@x.example>", "TO:<u@d.example", "<u@d>"]
  ) {
    assert.equal(parseCommand({ verb: "RCPT", args }).kind, "syntax", args);
  }
  assert.deepEqual(parseCommand({ verb: "BDAT", args: "100 LAST" }), {
    kind: "BDAT",
    sizeBytes: 100,
    last: true,
  });
  assert.equal(parseCommand({ verb: "BDAT", args: "x" }).kind, "syntax");
  assert.equal(parseCommand({ verb: "BDAT", args: "1 FIRST" }).kind, "syntax");
  assert.deepEqual(parseCommand({ verb: "AUTH", args: "plain AGFAYg==" }), {
    kind: "AUTH",
    mechanism: "PLAIN",
    initial: "AGFAYg==",
  });
  assert.deepEqual(parseCommand({ verb: "XYZZY", args: "" }), { kind: "unknown", verb: "XYZZY" });
});

Deno.test("formatReply() writes multi-line replies with the enhanced code on every line", () => {
  assert.equal(
    formatReply(reply(250, "2.0.0", "first", "second")),
    "250-2.0.0 first\r\n250 2.0.0 second\r\n",
  );
  assert.equal(formatReply(reply(220, undefined, "hi")), "220 hi\r\n");
  assert.equal(formatReply(reply(550, "5.1.1", "a\r\nb")), "550 5.1.1 a  b\r\n");
});

Deno.test("decodeReply() reads one whole reply, multi-line and enhanced", () => {
  const ehlo = assertDecodesEveryWay(
    replyOf,
    fromAscii("250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n220 next\r\n"),
    { bytesUsed: 46 },
  );
  assert.deepEqual(ehlo, {
    code: 250,
    enhanced: undefined,
    lines: ["mx.example", "PIPELINING", "SIZE 100"],
  });
  const ok = assertDecodesEveryWay(replyOf, fromAscii("250-2.1.0 a\r\n250 2.1.0 b\r\n"));
  assert.deepEqual(ok, { code: 250, enhanced: "2.1.0", lines: ["a", "b"] });
  assert.throws(() => replyOf(fromAscii("250-a\r\n251 b\r\n"), 0, 15), DecodeError);
  assert.throws(() => replyOf(fromAscii("hello\r\n"), 0, 7), DecodeError);
  const long = fromAscii("250 " + "x".repeat(600));
  assert.throws(() => replyOf(long, 0, long.length), LimitError);
});

Deno.test("DotDecoder unstuffs dots and ends only at CRLF.CRLF", () => {
  const data = dataOf();
  const body = assertDecodesEveryWay(
    data,
    fromAscii("Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n"),
    { bytesUsed: 32 },
  );
  assert.deepEqual(body, {
    text: "Subject: x\r\n\r\n.leading dot\r\n",
    bareLineEnds: false,
    nul: false,
    tooLarge: false,
  });
  const empty = assertDecodesEveryWay(data, fromAscii(".\r\n"));
  assert.equal(empty.text, "");
  const dotLine = assertDecodesEveryWay(data, fromAscii("a\r\n..\r\n.\r\n"));
  assert.equal(dotLine.text, "a\r\n.\r\n");
});

// The published SMTP smuggling end-of-data variants (SEC Consult, 2023):
// none of them may end the message; each one is flagged, and the real end
// CRLF.CRLF that follows is where the message stops.
const SMUGGLING: Record<string, string> = {
  "\\n.\\n": "a\n.\nMAIL FROM:<x@evil.example>\r\n",
  "\\n.\\r\\n": "a\n.\r\nMAIL FROM:<x@evil.example>\r\n",
  "\\r.\\r": "a\r.\rMAIL FROM:<x@evil.example>\r\n",
  "\\r.\\r\\n": "a\r.\r\nMAIL FROM:<x@evil.example>\r\n",
  "\\r\\n.\\r": "a\r\n.\rMAIL FROM:<x@evil.example>\r\n",
  "\\r\\n.\\n": "a\r\n.\nMAIL FROM:<x@evil.example>\r\n",
  "\\r\\r\\n.\\r\\r\\n": "a\r\r\n.\r\r\nMAIL FROM:<x@evil.example>\r\n",
  "\\r\\n\\0.\\r\\n": "a\r\n\0.\r\nMAIL FROM:<x@evil.example>\r\n",
  "\\r\\n.\\0\\r\\n": "a\r\n.\0\r\nMAIL FROM:<x@evil.example>\r\n",
};

for (const [name, smuggled] of Object.entries(SMUGGLING)) {
  Deno.test(`DotDecoder does not end the data at ${name}`, () => {
    const whole = smuggled + ".\r\n";
    const body = assertDecodesEveryWay(dataOf(), fromAscii(whole));
    assert.ok(body.bareLineEnds || body.nul, "flagged");
    assert.ok(body.text.includes("MAIL FROM"), "the smuggled command stays inside the message");
  });
}

Deno.test("DotDecoder counts the size and drops what passes the limit", () => {
  const body = assertDecodesEveryWay(dataOf(4), fromAscii("12345678\r\n.\r\n"));
  assert.equal(body.tooLarge, true);
  assert.equal(body.text, "");
});

Deno.test("ChunkReader takes exactly the chunk, split any way", () => {
  const input = fromAscii("abc\n.\r\nMORE");
  for (const { label, chunks } of splitEveryWay(input)) {
    const parts: Bytes[] = [];
    const reader = new ChunkReader(7, (b) => parts.push(b.slice()));
    let used = 0;
    for (const chunk of chunks) used += reader.push(chunk as Bytes);
    assert.equal(used, 7, label);
    assert.equal(reader.done, true, label);
    assert.equal(ascii(concat(parts)), "abc\n.\r\n", label);
  }
});

Deno.test("DotEncoder stuffs dots at line starts and ends with CRLF.CRLF, split any way", () => {
  const body = fromAscii(".a\r\nb.\r\n..c\r\nlast");
  const expected = "..a\r\nb.\r\n...c\r\nlast\r\n.\r\n";
  for (const { label, chunks } of splitEveryWay(body)) {
    const encoder = new DotEncoder();
    const out = concat([...chunks.map((c) => encoder.push(c)), encoder.end()]);
    assert.equal(ascii(out), expected, label);
    // And the receiving machine gives the body back, with the CRLF added.
    const back = dataOf()(out, 0, out.length);
    assert.ok(!back.incomplete && back.value.text === ascii(body) + "\r\n", label);
  }
  const empty = new DotEncoder();
  assert.equal(ascii(empty.end()), ".\r\n");
});
