// SORT beyond what the random differential test covers: the bound on how
// many elements one SORT may load.

import assert from "node:assert/strict";
import { SORT_ELEMENTS_MAX } from "../../../services/cache/commands/sort.ts";
import { ListValue } from "../../../services/cache/values.ts";
import { commandCache, plainReply as plain } from "./harness.ts";

Deno.test({
  name:
    "SORT refuses to load more than SORT_ELEMENTS_MAX elements, but BY nosort LIMIT serves a range",
  permissions: "none",
  fn() {
    const cache = commandCache();
    const s = cache.session();
    const list = new ListValue();
    for (let i = 0; i <= SORT_ELEMENTS_MAX; i++) list.pushBack(String(SORT_ELEMENTS_MAX - i));
    cache.server.keyspace.dbs[0].set("big", list);
    const refused = plain(s.run("SORT", "big"));
    assert.match(String(refused), /^-ERR SORT would load 1000001 elements/);
    assert.deepEqual(plain(s.run("SORT", "big", "BY", "nosort", "LIMIT", 0, 2)), [
      "1000000",
      "999999",
    ]);
    assert.deepEqual(plain(s.run("SORT", "big", "BY", "nosort", "DESC", "LIMIT", 0, 2)), [
      "0",
      "1",
    ]);
  },
});

Deno.test({
  name: "SORT BY a hash field, GET patterns, STORE into a list",
  permissions: "none",
  fn() {
    const s = commandCache().session();
    s.run("RPUSH", "ids", 3, 1, 2);
    s.run("HSET", "user:1", "age", 30, "name", "ann");
    s.run("HSET", "user:2", "age", 20, "name", "bob");
    s.run("HSET", "user:3", "age", 25, "name", "cy");
    assert.deepEqual(
      plain(s.run("SORT", "ids", "BY", "user:*->age", "GET", "#", "GET", "user:*->name")),
      [
        "2",
        "bob",
        "3",
        "cy",
        "1",
        "ann",
      ],
    );
    assert.equal(s.run("SORT", "ids", "DESC", "STORE", "out"), 3);
    assert.deepEqual(plain(s.run("LRANGE", "out", 0, -1)), ["3", "2", "1"]);
    assert.equal(plain(s.run("SORT_RO", "ids", "STORE", "out")), "-ERR syntax error");
  },
});

Deno.test({
  name: "SORT reads a value as a C string: bytes after a NUL are not part of its number",
  permissions: "none",
  fn() {
    const s = commandCache().session();
    // Found by the random differential test: Redis sorts "\0\xff" as 0.
    s.run("RPUSH", "l", "3.5", new Uint8Array([0, 255, 13, 10]));
    const sorted = plain(s.run("SORT", "l")) as string[];
    assert.equal(sorted.length, 2);
    assert.equal(sorted[1], "3.5");
  },
});
