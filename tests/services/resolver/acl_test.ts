import assert from "node:assert/strict";
import {
  AccessList,
  DEFAULT_ALLOWED,
  parseAddress,
  parseNetwork,
} from "../../../services/resolver/acl.ts";

const DEFAULTS = new AccessList(DEFAULT_ALLOWED);

const CLIENTS: [string, boolean][] = [
  ["127.0.0.1", true],
  ["127.255.0.9", true],
  ["10.1.2.3", true],
  ["172.16.0.1", true],
  ["172.31.255.255", true],
  ["172.32.0.1", false],
  ["192.168.1.1", true],
  ["192.169.1.1", false],
  ["8.8.8.8", false],
  ["::1", true],
  ["::2", false],
  ["fd00::1", true],
  ["fe80::1%eth0", true],
  ["2001:db8::1", false],
  ["::ffff:127.0.0.1", true],
  ["::ffff:8.8.8.8", false],
  ["not-an-address", false],
  ["", false],
];

for (const [client, allowed] of CLIENTS) {
  Deno.test(`the default access list ${allowed ? "allows" : "refuses"} ${client || "(empty)"}`, () => {
    assert.equal(DEFAULTS.allows(client), allowed);
  });
}

Deno.test("AccessList honours an explicit list, including bare addresses and /0", () => {
  const acl = new AccessList(["127.0.0.2", "2001:db8::/32"]);
  assert.equal(acl.allows("127.0.0.2"), true);
  assert.equal(acl.allows("127.0.0.1"), false);
  assert.equal(acl.allows("2001:db8:ffff::1"), true);
  assert.equal(new AccessList(["0.0.0.0/0"]).allows("203.0.113.9"), true);
  assert.equal(new AccessList(["0.0.0.0/0"]).allows("::1"), false);
});

Deno.test("parseNetwork() rejects malformed prefixes", () => {
  for (
    const bad of ["10.0.0.0/33", "::/129", "10.0.0/8", "1.2.3.256", "10.0.0.0/x", "1::2::3", "g::1"]
  ) {
    assert.throws(() => parseNetwork(bad), SyntaxError, bad);
  }
});

Deno.test("parseAddress() expands IPv6 forms", () => {
  assert.deepEqual(parseAddress("::"), new Uint8Array(16));
  assert.deepEqual(
    Array.from(parseAddress("1:2:3:4:5:6:7:8")!),
    [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8],
  );
  assert.deepEqual(Array.from(parseAddress("::ffff:1.2.3.4")!.subarray(10)), [
    255,
    255,
    1,
    2,
    3,
    4,
  ]);
  assert.equal(parseAddress("1:2:3:4:5:6:7"), undefined);
  assert.equal(parseAddress("1:2:3:4:5:6:7:8:9"), undefined);
});
