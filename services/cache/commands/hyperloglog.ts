// HyperLogLog commands (Redis "hyperloglog" group): PFADD, PFCOUNT and
// PFMERGE on hyperloglog.ts. A HyperLogLog is a string value; a string
// that is not one gets Redis's "Key is not a valid HyperLogLog string
// value." error. PFCOUNT of several keys counts their union without
// storing it. Left out: PFDEBUG and PFSELFTEST.

import type { Args } from "./context.ts";
import type { Db } from "../keyspace.ts";
import { HyperLogLog } from "../hyperloglog.ts";
import { toKey } from "../values.ts";
import { command, type CommandSpec, type Ctx, fail, WRONGTYPE } from "./context.ts";

const NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value.";

/** The HyperLogLog at `key`, undefined when missing; WRONGTYPE otherwise. */
function lookupHll(db: Db, key: string): HyperLogLog | undefined {
  const entry = db.lookup(key);
  if (entry === undefined) return undefined;
  if (typeof entry.value !== "string") fail(WRONGTYPE);
  return HyperLogLog.decode(entry.value) ?? fail(NOT_HLL);
}

/** PFADD key [element ...]: 1 when a register changed or the key was created. */
function pfadd(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const key = toKey(args.at(1));
  const found = lookupHll(db, key);
  const hll = found ?? new HyperLogLog();
  let changed = found === undefined;
  for (let i = 2; i < args.length; i++) if (hll.add(toKey(args.at(i)))) changed = true;
  if (changed) db.set(key, hll.encode());
  ctx.out.integer(changed ? 1 : 0);
}

/** PFCOUNT key [key ...]: the estimated cardinality of the union; missing keys are empty. */
function pfcount(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const union = new HyperLogLog();
  for (let i = 1; i < args.length; i++) {
    const hll = lookupHll(db, toKey(args.at(i)));
    if (hll !== undefined) union.merge(hll);
  }
  ctx.out.integer(union.count());
}

/** PFMERGE destkey [sourcekey ...]: the union stored at destkey (itself included). */
function pfmerge(ctx: Ctx, args: Args): void {
  const db = ctx.session.db;
  const union = new HyperLogLog();
  for (let i = 1; i < args.length; i++) {
    const hll = lookupHll(db, toKey(args.at(i)));
    if (hll !== undefined) union.merge(hll);
  }
  db.set(toKey(args.at(1)), union.encode());
  ctx.out.ok();
}

export const HLL_COMMANDS: CommandSpec[] = [
  command("pfadd", -2, ["write", "denyoom", "fast"], pfadd, {
    firstKey: 1,
    lastKey: 1,
    step: 1,
    group: "hyperloglog",
  }),
  command("pfcount", -2, ["readonly"], pfcount, {
    firstKey: 1,
    lastKey: -1,
    step: 1,
    group: "hyperloglog",
  }),
  command("pfmerge", -2, ["write", "denyoom"], pfmerge, {
    firstKey: 1,
    lastKey: -1,
    step: 1,
    group: "hyperloglog",
  }),
];
