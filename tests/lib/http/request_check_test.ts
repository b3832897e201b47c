// checkMethod / checkTarget / checkRequestField: what a client may put in a
// request head (RFC 9110 sections 5.1, 5.5, 5.6.2, 9.1; RFC 9112 section 3.2).

import assert from "node:assert/strict";
import {
  checkFieldLines,
  checkMethod,
  checkRequestField,
  checkRequestHead,
  checkTarget,
} from "../../../lib/http/request_check.ts";

const METHODS: [string, boolean][] = [
  ["GET", true],
  ["PATCH", true],
  ["M-SEARCH", true],
  ["X_CUSTOM!", true],
  ["", false],
  ["GET /evil HTTP/1.1\r\nHost: x\r\n\r\nGET", false],
  ["GET\n", false],
  ["GE T", false],
  ["GET\t", false],
  ["G\u00e9T", false],
  ["GET(", false],
  ["GET\0", false],
];

const TARGETS: [string, boolean][] = [
  ["/", true],
  ["/a/b?c=d&e=%20", true],
  ["*", true],
  ["/~user/!$&'()*+,;=:@", true],
  ["", false],
  ["/a b", false],
  ["/a\r\nHost: evil", false],
  ["/a\n", false],
  ["/\t", false],
  ["/\u007f", false],
  ["/caf\u00e9", false],
  ["/\u{1f600}", false],
];

const FIELDS: [string, string, boolean][] = [
  ["content-type", "text/plain; charset=utf-8", true],
  ["X-Empty", "", true],
  ["x-tab", "a\tb", true],
  ["x-latin1", "caf\u00e9", true],
  ["", "v", false],
  ["bad name", "v", false],
  ["bad:name", "v", false],
  ["x-crlf\r\n", "v", false],
  ["x", "a\r\nInjected: yes", false],
  ["x", "a\nb", false],
  ["x", "a\rb", false],
  ["x", "a\0b", false],
  ["na\u00efve", "v", false],
];

Deno.test({
  name: "checkMethod() accepts tokens and refuses everything else with a TypeError",
  permissions: "none",
  fn() {
    for (const [method, ok] of METHODS) {
      if (ok) checkMethod(method);
      else {
        assert.throws(
          () => checkMethod(method),
          (e) => e instanceof TypeError && e.message.startsWith("invalid request method"),
          JSON.stringify(method),
        );
      }
    }
  },
});

Deno.test({
  name: "checkTarget() accepts visible ASCII and refuses spaces, controls and non-ASCII",
  permissions: "none",
  fn() {
    for (const [target, ok] of TARGETS) {
      if (ok) checkTarget(target);
      else {
        assert.throws(
          () => checkTarget(target),
          (e) => e instanceof TypeError && e.message.startsWith("invalid request target"),
          JSON.stringify(target),
        );
      }
    }
  },
});

Deno.test({
  name: "checkRequestField() wants a token name and a value without CR, LF or NUL",
  permissions: "none",
  fn() {
    for (const [name, value, ok] of FIELDS) {
      if (ok) checkRequestField(name, value);
      else {
        assert.throws(
          () => checkRequestField(name, value),
          (e) => e instanceof TypeError && /header field/.test(e.message),
          JSON.stringify([name, value]),
        );
      }
    }
  },
});

Deno.test({
  name: "checkRequestHead() checks the method, the target and every field",
  permissions: "none",
  fn() {
    checkRequestHead("GET", "/", [["host", "h"]]);
    assert.throws(() => checkRequestHead("GET\r\n", "/", []), /request method/);
    assert.throws(() => checkRequestHead("GET", "/ x", []), /request target/);
    assert.throws(() => checkRequestHead("GET", "/", [["a", "b\r\n"]]), /header field "a"/);
  },
});

Deno.test({
  name: "request check messages quote the bad text, cut short",
  permissions: "none",
  fn() {
    assert.throws(
      () => checkMethod("X".repeat(100) + "\n"),
      (e) => e instanceof TypeError && e.message.length < 120 && e.message.includes("..."),
    );
  },
});

const FIELD_LINES: [string, boolean][] = [
  ["", true],
  ["Host: a\r\n", true],
  ["Host: a\r\nX-Empty:\r\nAccept: */*;q=0.1 \t\r\n", true],
  ["Host: a", false], // no CR LF
  ["Host: a\r", false],
  ["Host: a\n", false], // bare LF
  ["Host: a\rb\r\n", false], // bare CR
  ["Host: a\r\n\r\nGET /smuggled HTTP/1.1\r\n", false], // an empty line ends the head
  ["Host: a\r\n folded\r\n", false], // obs-fold
  ["Host: a\0b\r\n", false],
  ["Bad Name: a\r\n", false],
  [": a\r\n", false],
  ["NoColon\r\n", false],
  ["Host: a\r\nNoColon", false],
];

Deno.test({
  name: "checkFieldLines() wants whole lines of a token name, a colon, a clean value and CR LF",
  permissions: "none",
  fn() {
    for (const [text, ok] of FIELD_LINES) {
      if (ok) checkFieldLines(text);
      else {
        assert.throws(
          () => checkFieldLines(text),
          (e) => e instanceof TypeError && /header field line/.test(e.message),
          JSON.stringify(text),
        );
      }
    }
  },
});
