import assert from "node:assert/strict";
import {
  isSubdomain,
  labelsToName,
  nameLabels,
  parentName,
  parseName,
} from "../../../lib/dns/name.ts";
import {
  formatIpv6,
  formatRData,
  parseIpv6,
  parseRData,
  quoteText,
  ttlValue,
} from "../../../lib/dns/rdata.ts";
import { RecordType } from "../../../lib/dns/types.ts";
import { DecodeError, LimitError } from "../../../lib/errors.ts";

const pure = { permissions: "none" } as const;

const NAMES: [input: string, origin: string, expected: string][] = [
  ["www", "example.com.", "www.example.com."],
  ["www.example.com.", "other.", "www.example.com."],
  ["@", "example.com.", "example.com."],
  [".", "example.com.", "."],
  ["WwW.Example.COM.", ".", "WwW.Example.COM."],
  ["a\\.b.example.", ".", "a\\.b.example."],
  ["\\097bc.example.", ".", "abc.example."],
  ["sp\\032ace.example.", ".", "sp\\032ace.example."],
  ["_sip._tcp", "example.com.", "_sip._tcp.example.com."],
  ["*.wild", "example.com.", "*.wild.example.com."],
];

Deno.test("parseName() handles relative names, @, case and escapes", pure, () => {
  for (const [input, origin, expected] of NAMES) {
    assert.equal(parseName(input, origin), expected, input);
  }
});

Deno.test("parseName() rejects empty labels, long labels and long names", pure, () => {
  assert.throws(() => parseName("a..b."), DecodeError);
  assert.throws(() => parseName(`${"a".repeat(64)}.example.`), LimitError);
  assert.throws(() => parseName(`${"a".repeat(63)}.`.repeat(4)), LimitError);
  assert.equal(labelsToName(nameLabels(`${"a".repeat(63)}.`.repeat(3))).length, 192);
  assert.throws(() => parseName("\\256.example."), DecodeError);
});

Deno.test("names compare case-insensitively", pure, () => {
  assert.ok(isSubdomain("WWW.Example.com.", "example.COM."));
  assert.ok(isSubdomain("example.com.", "example.com."));
  assert.ok(!isSubdomain("badexample.com.", "example.com."));
  assert.ok(!isSubdomain("a\\.example.com.", "example.com.")); // one label "a.example"
  assert.ok(isSubdomain("anything.", "."));
  assert.equal(parentName("www.example.com."), "example.com.");
  assert.equal(parentName("com."), ".");
  assert.equal(parentName("."), undefined);
});

Deno.test("IPv6 text forms parse and print per RFC 5952", pure, () => {
  const cases: [string, string][] = [
    ["::1", "::1"],
    ["::", "::"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["::ffff:127.0.0.1", "::ffff:7f00:1"],
    ["fe80::", "fe80::"],
  ];
  for (const [input, printed] of cases) assert.equal(formatIpv6(parseIpv6(input)), printed, input);
  for (const bad of ["1::2::3", "12345::", "1:2:3:4:5:6:7", "g::1", ":::"]) {
    assert.throws(() => parseIpv6(bad), DecodeError, bad);
  }
});

Deno.test("TTLs take seconds or BIND's units", pure, () => {
  assert.equal(ttlValue("3600"), 3600);
  assert.equal(ttlValue("1h30m"), 5400);
  assert.equal(ttlValue("1W"), 604800);
  assert.throws(() => ttlValue("1y"), DecodeError);
  assert.throws(() => ttlValue("4294967296"), DecodeError);
});

const t = (text: string, quoted = false) => ({ text, quoted });

Deno.test("parseRData() reads each type's presentation form", pure, () => {
  const origin = "example.com.";
  assert.deepEqual(parseRData(RecordType.MX, [t("10"), t("mail")], origin), {
    kind: "MX",
    preference: 10,
    exchange: "mail.example.com.",
  });
  assert.deepEqual(
    formatRData(parseRData(RecordType.TXT, [t("a b", true), t('say \\"hi\\"', true)], origin)),
    '"a b" "say \\"hi\\""',
  );
  assert.deepEqual(parseRData(RecordType.SRV, [t("1"), t("2"), t("3"), t("sip")], origin), {
    kind: "SRV",
    priority: 1,
    weight: 2,
    port: 3,
    target: "sip.example.com.",
  });
  assert.equal(
    formatRData(parseRData(RecordType.CAA, [t("0"), t("issue"), t("ca.example", true)], origin)),
    '0 issue "ca.example"',
  );
  // RFC 3597 5: the generic form works for known types too.
  assert.deepEqual(parseRData(RecordType.A, [t("\\#"), t("4"), t("7f000001")], origin), {
    kind: "A",
    address: "127.0.0.1",
  });
  assert.equal(
    formatRData(parseRData(65280, [t("\\#"), t("4"), t("0a00"), t("0001")], origin)),
    "\\# 4 0a000001",
  );
  assert.throws(() => parseRData(65280, [t("\\#"), t("3"), t("0a00")], origin), DecodeError);
  assert.throws(() => parseRData(RecordType.A, [t("300.0.0.1")], origin), DecodeError);
  assert.throws(() => parseRData(RecordType.MX, [t("mail")], origin), DecodeError);
  assert.throws(() => parseRData(RecordType.TXT, [t("x".repeat(256), true)], origin), DecodeError);
});

Deno.test("quoteText() escapes quotes, backslashes and unprintables", pure, () => {
  assert.equal(quoteText(new Uint8Array([0x61, 0x22, 0x5c, 0x0a, 0xff])), '"a\\"\\\\\\010\\255"');
});
