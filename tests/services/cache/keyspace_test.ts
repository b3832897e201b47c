// The keyspace's columns (services/cache/keyspace.ts): views that follow a
// key when another key's deletion moves it, SCAN's guarantee across
// deletions, TTL and access columns, memory accounting that returns to the
// baseline, and the heap a key really costs (in a subprocess, with the GC
// exposed), against the estimate maxmemory trusts.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { BASELINE_BYTES, Keyspace, lfuCounter } from "../../../services/cache/keyspace.ts";
import { ListValue } from "../../../services/cache/values.ts";

Deno.test({
  name: "an Entry view follows its key when deleting another key moves it",
  permissions: "none",
  fn() {
    const db = new Keyspace(1).dbs[0];
    for (let i = 0; i < 10; i++) db.set(`k${i}`, `v${i}`);
    const last = db.lookup("k9")!; // the last slot: the next deletion moves it
    db.delete("k0");
    assert.equal(last.value, "v9");
    last.value = "changed";
    db.resize(last);
    assert.equal(db.get("k9"), "changed");
    db.setExpire(last, Date.now() + 60_000);
    assert.ok(db.lookup("k9")!.expireAt > Date.now());
    assert.equal(db.volatileCount, 1);
    // A view of a key another deletion removed is a bug: it says so.
    const gone = db.lookup("k5")!;
    db.delete("k5");
    assert.throws(() => gone.value, /deleted key k5/);
  },
});

Deno.test({
  name: "SCAN's walk returns every key present throughout, whatever is deleted meanwhile",
  permissions: "none",
  fn() {
    for (let seed = 1; seed <= 20; seed++) {
      let state = seed;
      const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
      const db = new Keyspace(1).dbs[0];
      for (let i = 0; i < 200; i++) db.set(`k${i}`, "v");
      const stable = new Set<string>();
      for (let i = 0; i < 200; i += 3) stable.add(`k${i}`);
      const seen = new Set<string>();
      // SCAN as commands/keys.ts walks it: from the top slot down, with
      // deletions of keys outside `stable` and new keys between calls.
      let position = db.slots;
      let added = 0;
      while (position > 0) {
        for (let n = 0; n < 7 && position > 0; n++) seen.add(db.keyAt(--position));
        for (let d = 0; d < 3; d++) {
          const victim = `k${Math.floor(random() * 200)}`;
          if (!stable.has(victim)) db.delete(victim);
        }
        if (random() < 0.5) db.set(`new${added++}`, "v");
      }
      for (const key of stable) assert.ok(seen.has(key), `seed ${seed}: ${key} missed`);
    }
  },
});

Deno.test({
  name: "used memory returns to the baseline after deletes, expiry, eviction, FLUSHDB and SWAPDB",
  permissions: "none",
  fn() {
    const space = new Keyspace(2);
    const [a, b] = space.dbs;
    for (let i = 0; i < 5000; i++) {
      a.set(`s${i}`, "x".repeat(i % 50));
      const list = a.set(`l${i}`, new ListValue());
      (list.value as ListValue).pushBack("element");
      a.resize(list);
      if (i % 3 === 0) a.setExpire(list, Date.now() + 60_000);
    }
    for (let i = 0; i < 5000; i++) b.set(`b${i}`, "y");
    assert.ok(space.usedBytes > BASELINE_BYTES + 10_000 * 100);
    // Strings replaced through a view and aggregates changed in place.
    const s = a.lookup("s7")!;
    s.value = "a much longer value than before";
    a.resize(s);
    const l = a.lookup("l8")!;
    (l.value as ListValue).popFront();
    a.delete("l8"); // emptied: deleted without a resize, as popOne does
    a.swapWith(b);
    for (let i = 0; i < 2500; i++) b.delete(`s${i}`);
    while (b.size > 2000) b.removeSlot(b.randomSlot());
    b.flush();
    assert.equal(b.volatileCount, 0);
    for (let i = 0; i < 5000; i++) a.delete(`b${i}`);
    assert.equal(space.usedBytes, BASELINE_BYTES);
  },
});

Deno.test({
  name: "expired keys are found and removed through the TTL columns",
  permissions: "none",
  fn() {
    const space = new Keyspace(1);
    const db = space.dbs[0];
    for (let i = 0; i < 100; i++) {
      const entry = db.set(`k${i}`, "v");
      if (i % 2 === 0) db.setExpire(entry, i % 4 === 0 ? 1 : Date.now() + 60_000);
    }
    assert.equal(db.volatileCount, 50);
    for (let i = 0; i < 100; i += 4) assert.equal(db.get(`k${i}`), undefined);
    assert.equal(db.volatileCount, 25);
    assert.equal(db.size, 75);
    assert.equal(space.expiredKeys, 25);
    // PERSIST-like: clearing a TTL leaves the key, drops it from the volatile columns.
    db.setExpire(db.lookup("k2")!, 0);
    assert.equal(db.volatileCount, 24);
    assert.equal(db.lookup("k2")!.expireAt, 0);
  },
});

Deno.test("1M-style small keys cost well under 176 bytes each, and the estimate is not below the heap", async () => {
  // Subprocess: the GC must be exposed to measure the heap after a full collection.
  const script = fileURLToPath(new URL("../../../bench/micro/cache_memory.ts", import.meta.url));
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--v8-flags=--expose-gc", script, "200000"],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(output.success);
  const result = JSON.parse(new TextDecoder().decode(output.stdout));
  // 200k keys: the Map's table is 2^18 entries, 76% full, near the average case.
  assert.ok(result.bytesPerKey < 150, `heap ${result.bytesPerKey} bytes/key`);
  assert.ok(
    result.estimatedBytesPerKey >= result.bytesPerKey * 0.97,
    `estimate ${result.estimatedBytesPerKey} against heap ${result.bytesPerKey} bytes/key`,
  );
});

Deno.test({
  name: "the access column records the LRU clock on access, or bumps the LFU counter",
  permissions: "none",
  fn() {
    const space = new Keyspace(1);
    const db = space.dbs[0];
    space.clock = 7;
    db.set("k", "v");
    space.clock = 12;
    assert.equal(db.peek("k")!.access, 7); // peek is not an access
    db.get("k");
    assert.equal(db.peek("k")!.access, 12);
    // RESTORE ... IDLETIME may ask for more idle time than the clock has run.
    db.peek("k")!.access = 12 - 10_000_000_000;
    assert.equal(db.peek("k")!.access, -0x80000000);
    space.policy = "allkeys-lfu";
    db.set("f", "v");
    const first = lfuCounter(db.peek("f")!.access, space.epochMs);
    assert.ok(first >= 5 && first <= 6, `counter ${first}`); // LFU_INIT_VAL, and this access
    for (let i = 0; i < 1000; i++) db.get("f");
    assert.ok(lfuCounter(db.peek("f")!.access, space.epochMs) > first);
  },
});
