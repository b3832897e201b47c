// Which of a command's key lookups are reads (Redis 7.0 db.c: lookupKeyRead
// and its NOTOUCH variant, as opposed to lookupKeyWrite). A read lookup
// counts in INFO's keyspace_hits or keyspace_misses, and a read lookup that
// misses publishes the "keymiss" event (notify-keyspace-events class m),
// after "expired" when the key had just expired.
//
// By default a command flagged readonly reads every key it looks up and any
// other command reads none. The exceptions are this table, from Redis's
// sources and checked against redis-server 7.0.15 by the random
// differential test (tests/services/cache/random_differential_test.ts):
// write commands that read some keys first (SET ... GET, GETDEL, COPY's
// source, SORT and its BY/GET patterns, BITOP's and PFMERGE's inputs), and
// readonly commands whose lookups Redis keeps quiet (OBJECT publishes no
// "keymiss", MEMORY USAGE does not even count).

import type { Args, CommandSpec } from "./commands/context.ts";

/**
 * Every lookup is a read (true), none is (false), only one lookup of each
 * key listed, or every lookup is counted but publishes nothing ("quiet").
 */
export type ReadLookups = boolean | "quiet" | string[];

function keyAt(args: Args, i: number): string {
  const arg = args.at(i);
  let s = "";
  for (let j = 0; j < arg.length; j++) s += String.fromCharCode(arg[j]);
  return s;
}

function keysFrom(args: Args, first: number): string[] {
  const keys: string[] = [];
  for (let i = first; i < args.length; i++) keys.push(keyAt(args, i));
  return keys;
}

function hasOption(args: Args, from: number, option: string): boolean {
  for (let i = from; i < args.length; i++) {
    const arg = args.at(i);
    if (arg.length !== option.length) continue;
    let same = true;
    for (let j = 0; j < arg.length && same; j++) same = (arg[j] | 0x20) === option.charCodeAt(j);
    if (same) return true;
  }
  return false;
}

/** The exceptions to "readonly commands read, the others do not", by command name. */
const EXCEPTIONS: ReadonlyMap<string, (args: Args) => ReadLookups> = new Map<
  string,
  (args: Args) => ReadLookups
>([
  // getGenericCommand first: a read of the key, then the write.
  ["set", (args) => hasOption(args, 3, "get") ? [keyAt(args, 1)] : false],
  ["getset", (args) => [keyAt(args, 1)]],
  ["getdel", (args) => [keyAt(args, 1)]],
  ["getex", (args) => [keyAt(args, 1)]],
  ["copy", (args) => [keyAt(args, 1)]],
  // The sorted key and every BY/GET pattern key are read (lookupKeyByPattern).
  ["sort", () => true],
  ["bitop", (args) => keysFrom(args, 3)],
  // BITFIELD with GETs only reads its key (bitfieldGeneric).
  [
    "bitfield",
    (args) => hasOption(args, 2, "set") || hasOption(args, 2, "incrby") ? false : [keyAt(args, 1)],
  ],
  // sunionDiffGenericCommand and sinterGenericCommand read their sources even when storing.
  ["sinterstore", (args) => keysFrom(args, 2)],
  ["sunionstore", (args) => keysFrom(args, 2)],
  ["sdiffstore", (args) => keysFrom(args, 2)],
  ["zrangestore", (args) => [keyAt(args, 2)]],
  // zunionInterDiffGenericCommand too (the arguments after the keys are never looked up).
  ["zunionstore", (args) => keysFrom(args, 3)],
  ["zinterstore", (args) => keysFrom(args, 3)],
  ["zdiffstore", (args) => keysFrom(args, 3)],
  // pfmergeCommand reads every key, the destination too, before writing it.
  ["pfmerge", (args) => keysFrom(args, 1)],
  // LOOKUP_NONOTIFY: counted in keyspace_hits/misses, no "keymiss".
  ["object", () => "quiet"],
  ["memory", () => false],
]);

/** How the lookups of one command count (see the file comment). */
export function readLookupsOf(spec: CommandSpec, args: Args): ReadLookups {
  const name = spec.name;
  const exception = EXCEPTIONS.get(name) ??
    (name.includes("|") ? EXCEPTIONS.get(name.slice(0, name.indexOf("|"))) : undefined);
  if (exception !== undefined) return exception(args);
  return spec.flags.includes("readonly");
}
