import assert from "node:assert/strict";
import { formatRData } from "../../../lib/dns/rdata.ts";
import { RecordType } from "../../../lib/dns/types.ts";
import { parseZoneText, Zone, ZoneError } from "../../../lib/dns/zone.ts";

const pure = { permissions: "none" } as const;

// Written the way BIND and NSD users write zones: no $ORIGIN (the server
// config gives it), an SOA over several lines, owners and TTLs omitted.
const BIND_STYLE = `
$TTL 1h                        ; default TTL with a unit
@   IN  SOA ns1 hostmaster (   ; relative names
        2024010101 ; serial
        3h 15m 1w 5m )
    IN  NS      ns1            ; owner omitted: the apex
    NS  ns2.example.net.       ; class omitted too
ns1 300 A 127.0.0.1            ; TTL before the type, class omitted
www IN 60 A 127.0.0.2          ; class before TTL
    AAAA ::2                   ; owner and TTL omitted: www, and the default TTL
txt TXT "one ; not a comment" "two \\"quoted\\"" unquoted
    TXT ( "split"
          "over lines" )
$ORIGIN sub.example.com.
host A 127.0.0.3
odd TYPE65280 \\# 2 abcd
CLASS1 A 127.0.0.4
`;

Deno.test("parseZoneText() reads a zone written for BIND or NSD unchanged", pure, () => {
  const records = parseZoneText(BIND_STYLE, { origin: "example.com." });
  const lines = records.map((r) =>
    `${r.name} ${r.ttl} ${r.class} ${r.type} ${formatRData(r.data)}`
  );
  assert.deepEqual(lines, [
    "example.com. 3600 1 6 ns1.example.com. hostmaster.example.com. 2024010101 10800 900 604800 300",
    "example.com. 3600 1 2 ns1.example.com.",
    "example.com. 3600 1 2 ns2.example.net.",
    "ns1.example.com. 300 1 1 127.0.0.1",
    "www.example.com. 60 1 1 127.0.0.2",
    "www.example.com. 3600 1 28 ::2",
    'txt.example.com. 3600 1 16 "one ; not a comment" "two \\"quoted\\"" "unquoted"',
    'txt.example.com. 3600 1 16 "split" "over lines"',
    "host.sub.example.com. 3600 1 1 127.0.0.3",
    "odd.sub.example.com. 3600 1 65280 \\# 2 abcd",
    "CLASS1.sub.example.com. 3600 1 1 127.0.0.4",
  ]);
});

Deno.test("without $TTL an omitted TTL is the previous record's (RFC 1035 5.1)", pure, () => {
  const records = parseZoneText("a.example. 120 IN A 127.0.0.1\nb.example. IN A 127.0.0.2\n");
  assert.deepEqual(records.map((r) => r.ttl), [120, 120]);
});

const ERRORS: [name: string, text: string, line: number, message: RegExp][] = [
  [
    "an unknown type",
    "$TTL 60\n@ SOA a b 1 2 3 4 5\nx IN BOGUS 1\n",
    3,
    /unknown record type "BOGUS"/,
  ],
  ["a bad address", "$TTL 60\n\nx A 300.1.1.1\n", 3, /not an IPv4 address/],
  ["an unclosed parenthesis", "$TTL 60\n@ SOA a b (\n 1 2 3 4 5\n", 2, /never closed/],
  ["a stray ')'", "$TTL 60\nx A 127.0.0.1 )\n", 2, /without '\('/],
  ["an unterminated string", '$TTL 60\nx TXT "abc\n', 2, /unterminated/],
  ["no TTL at all", "x A 127.0.0.1\n", 1, /no TTL/],
  ["a relative name without an origin", "$TTL 60\nx A 127.0.0.1\n", 2, /no \$ORIGIN/],
  ["$INCLUDE", "$INCLUDE other.zone\n", 1, /\$INCLUDE is not supported/],
  [
    "a label over 63 octets",
    `$TTL 60\n${"a".repeat(64)}.example. A 127.0.0.1\n`,
    2,
    /label of 64 octets/,
  ],
  ["a missing owner on the first line", " A 127.0.0.1\n", 1, /no owner/],
];

for (const [name, text, line, message] of ERRORS) {
  Deno.test(`parseZoneText() names the file and line of ${name}`, pure, () => {
    const error = assert.throws(
      () =>
        parseZoneText(text, {
          file: "broken.zone",
          origin: name.includes("origin") ? undefined : "example.",
        }),
      (e: unknown) => {
        assert.ok(e instanceof ZoneError, String(e));
        assert.equal(e.line, line);
        assert.match(e.message, message);
        assert.ok(e.message.startsWith(`broken.zone:${line}: `), e.message);
        return true;
      },
    );
    return error;
  });
}

Deno.test("Zone.parse() checks the zone as NSD does", pure, () => {
  const soa = "$ORIGIN example.com.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n";
  assert.throws(() => Zone.parse("$TTL 60\nx.example. A 127.0.0.1\n"), /no SOA/);
  assert.throws(
    () => Zone.parse(soa + "www.other. A 127.0.0.1\n", { file: "z" }),
    /z:4: .*outside/,
  );
  assert.throws(() => Zone.parse(soa + "a CNAME b\na A 127.0.0.1\n"), /CNAME and other data/);
  const zone = Zone.parse(soa + "a.b.c A 127.0.0.1\na.b.c A 127.0.0.1\n");
  assert.equal(zone.origin, "example.com.");
  assert.equal(zone.recordCount, 2); // the duplicate A is dropped
  assert.ok(zone.node("B.C.example.com."), "an empty non-terminal exists");
  assert.equal(zone.node("b.c.example.com.")?.rrsets.size, 0);
  assert.equal(zone.node("A.B.C.EXAMPLE.COM.")?.rrsets.get(RecordType.A)?.records.length, 1);
  assert.equal(zone.node("nope.example.com."), undefined);
});
