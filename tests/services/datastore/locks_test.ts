// The lock manager alone: the IS/IX/S/X compatibility table, upgrades, the
// wait-for graph with intention locks (a compatible holder is no edge), and
// the commit LSNs it remembers for readers (locks.ts).

import assert from "node:assert/strict";
import { DeadlockError } from "../../../services/datastore/storage/errors.ts";
import { LockManager, type LockMode } from "../../../services/datastore/storage/locks.ts";

const MODES: LockMode[] = ["IS", "IX", "S", "X"];
const COMPATIBLE: Record<LockMode, LockMode[]> = {
  IS: ["IS", "IX", "S"],
  IX: ["IS", "IX"],
  S: ["IS", "S"],
  X: [],
};

Deno.test("LockManager grants a second transaction exactly the modes compatible with the first's", () => {
  for (const held of MODES) {
    for (const wanted of MODES) {
      const locks = new LockManager();
      assert.equal(locks.tryAcquire(1, "t", held), true);
      assert.equal(
        locks.tryAcquire(2, "t", wanted),
        COMPATIBLE[held].includes(wanted),
        `${wanted} while another holds ${held}`,
      );
    }
  }
});

Deno.test("LockManager: IX then S by one transaction is X; a weaker request is covered", () => {
  const locks = new LockManager();
  locks.tryAcquire(1, "t", "IX");
  locks.tryAcquire(1, "t", "S");
  assert.equal(locks.holds(1, "t"), "X");
  locks.tryAcquire(2, "u", "X");
  locks.tryAcquire(2, "u", "IS");
  assert.equal(locks.holds(2, "u"), "X");
  assert.equal(locks.tryAcquire(3, "t", "IS"), false);
});

Deno.test("LockManager: a holder whose mode does not conflict is not an edge of the wait-for graph", async () => {
  const locks = new LockManager();
  // 1 holds key k; 2 reads the table (IS) and waits for k; 3 writes a row (IX).
  locks.tryAcquire(1, "k", "X");
  locks.tryAcquire(2, "t", "IS");
  const twoWaits = locks.acquire(2, "k", "S", 1000)!;
  locks.tryAcquire(3, "t", "IX");
  // 1 now wants to scan the table: blocked by 3's IX only, not by 2's IS
  // (which waits for 1): no cycle.
  const oneWaits = locks.acquire(1, "t", "S", 1000);
  assert.ok(oneWaits instanceof Promise);
  locks.releaseAll(3);
  await oneWaits;
  locks.releaseAll(1);
  await twoWaits;
  locks.releaseAll(2);
  assert.equal(locks.deadlocks, 0);
});

Deno.test("LockManager refuses the request that closes a cycle, and two upgraders", async () => {
  const locks = new LockManager();
  locks.tryAcquire(1, "a", "X");
  locks.tryAcquire(2, "b", "X");
  const oneWaits = locks.acquire(1, "b", "X", 1000)!;
  await assert.rejects(locks.acquire(2, "a", "X", 1000)!, DeadlockError);
  locks.releaseAll(2);
  await oneWaits;
  locks.releaseAll(1);

  locks.tryAcquire(3, "t", "S");
  locks.tryAcquire(4, "t", "S");
  const threeUpgrades = locks.acquire(3, "t", "IX", 1000)!;
  await assert.rejects(locks.acquire(4, "t", "IX", 1000)!, DeadlockError);
  locks.releaseAll(4);
  await threeUpgrades;
  assert.equal(locks.holds(3, "t"), "X");
  locks.releaseAll(3);
  assert.equal(locks.deadlocks, 2);
});

Deno.test("LockManager remembers the commit LSN of a resource's last writer for the next holder", () => {
  const locks = new LockManager();
  locks.tryAcquire(1, "t", "IX");
  locks.tryAcquire(1, "k1", "X");
  locks.releaseAll(1, 40);
  locks.tryAcquire(2, "t", "IX");
  locks.tryAcquire(2, "k2", "X");
  locks.releaseAll(2); // a rollback: nothing written
  assert.equal(locks.writtenLsn("k1", "S"), 40);
  assert.equal(locks.writtenLsn("k2", "S"), 0);
  assert.equal(locks.writtenLsn("t", "IS"), 0, "row writers leave the table's IS holders alone");
  assert.equal(locks.writtenLsn("t", "S"), 40, "a table reader covers every row written");
  locks.tryAcquire(3, "t", "X");
  locks.releaseAll(3, 50);
  assert.equal(locks.writtenLsn("t", "IS"), 50, "a whole-table writer may have written any row");
});
