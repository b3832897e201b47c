// INFO and CLIENT LIST as dashboards and client libraries read them: the
// same sections for each INFO argument, every field redis-server 7.0.15
// shows in its order, error counts by code, and CLIENT LIST's fields and
// flags for blocked, subscribed and MULTI clients (the same script runs
// against both servers), and COMMAND GETKEYS for every command.

import assert from "node:assert/strict";
import { fromUtf8 } from "../../../lib/bytes.ts";
import { RespClient } from "../../../lib/resp/client.ts";
import { type RespValue, RespVerbatim } from "../../../lib/resp/types.ts";
import { service } from "../../../services/cache/mod.ts";
import { interopTest } from "../../_support/interop.ts";
import { startService } from "../../_support/service.ts";
import { startRedis } from "./redis_server.ts";
import { waitFor } from "./wait.ts";

function text(value: RespValue): string {
  if (value instanceof RespVerbatim) return fromUtf8(value.text);
  if (value instanceof Uint8Array) return fromUtf8(value);
  return String(value);
}

/** Field names of INFO text; per-command and per-database lines are left to their values. */
function fieldNames(info: string): string[] {
  return info.split("\r\n")
    .filter((line) => line !== "")
    .map((line) => line.startsWith("#") ? line : line.slice(0, line.indexOf(":")))
    .filter((name) => !/^(cmdstat_|errorstat_|latency_percentiles_usec_|db\d+$)/.test(name));
}

function errorCounts(info: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of info.matchAll(/errorstat_(\w+):count=(\d+)/g)) {
    counts.set(match[1], Number(match[2]));
  }
  return counts;
}

/** What the script sees on one server. */
async function observe(port: number): Promise<Record<string, unknown>> {
  using client = await RespClient.connect({ port });
  const seen: Record<string, unknown> = {};
  for (const argument of [[], ["default"], ["all"], ["everything"], ["memory", "cpu"]]) {
    const info = text(await client.send("INFO", ...argument));
    seen[`sections ${argument.join(" ")}`] = fieldNames(info).filter((n) => n.startsWith("#"));
  }
  seen.fields = fieldNames(text(await client.send("INFO", "everything")));
  const before = errorCounts(text(await client.send("INFO", "errorstats")));
  await client.send("NOSUCHCOMMAND").catch(() => {});
  await client.send("SET", "s", "v");
  await client.send("LPUSH", "s", "x").catch(() => {});
  await client.send("GET").catch(() => {});
  const after = errorCounts(text(await client.send("INFO", "errorstats")));
  seen.errors = [...after].map(([code, n]) => `${code} +${n - (before.get(code) ?? 0)}`).sort();
  // A blocked, a subscribed and a MULTI client next to this one.
  using blocked = await RespClient.connect({ port });
  const popped = blocked.send("BLPOP", "never", 0).catch(() => {});
  using subscriber = await RespClient.connect({ port });
  await subscriber.send("SUBSCRIBE", "news");
  using transaction = await RespClient.connect({ port });
  await transaction.send("MULTI");
  await transaction.send("GET", "s");
  await waitFor("the BLPOP to park", async () => {
    return /blocked_clients:1\b/.test(text(await client.send("INFO", "clients")));
  });
  const lines = text(await client.send("CLIENT", "LIST")).trim().split("\n");
  seen.clientFields = lines[0].split(" ").map((field) => field.slice(0, field.indexOf("=")));
  seen.clients = lines.map((line) => {
    const flags = /flags=(\S+)/.exec(line)![1];
    const cmd = /cmd=(\S+)/.exec(line)![1];
    const multi = /multi=(\S+)/.exec(line)![1];
    return `${cmd} flags=${flags} multi=${multi}`;
  }).sort();
  blocked.close();
  await popped;
  return seen;
}

interopTest("INFO sections and fields, error stats and CLIENT LIST match redis-server", {
  binaries: ["redis-server"],
  async fn() {
    await using redis = await startRedis();
    await using cache = await startService(service);
    const theirs = await observe(redis.port);
    const ours = await observe(cache.addresses.tcp.port);
    assert.deepEqual(ours, theirs);
  },
});

/** Argument lists for COMMAND GETKEYS: fixed, keynum and movable keys, and each error. */
const GETKEYS_CASES: string[][] = [
  ["get", "a"],
  ["mset", "a", "1", "b", "2"],
  ["ping"],
  ["nosuch", "a"],
  ["lmpop", "2", "a", "b", "left"],
  ["blmpop", "0", "2", "a", "b", "left"],
  ["zunionstore", "d", "2", "a", "b"],
  ["sort", "k", "store", "d"],
  ["del", "a", "b", "c"],
  ["config", "get", "x"],
  ["lmpop", "5", "a", "left"],
  ["rename", "a", "b"],
  ["blpop", "a", "b", "0"],
  ["zunionstore", "d", "0", "a"],
  ["zunion", "1", "a", "withscores"],
  ["sintercard", "x", "a"],
  ["sort", "k", "limit", "0", "1", "get", "store", "by", "x", "store", "d2"],
  ["lmpop", "0", "a", "left"],
  ["lmpop", "1", "a"],
  ["object", "encoding", "k"],
  ["bzpopmin", "a", "b", "0"],
  ["pfmerge", "d", "a", "b"],
  ["bitop", "and", "d", "a", "b"],
  ["copy", "a", "b", "db", "1"],
  ["smove", "a", "b", "m"],
  ["zrangestore", "d", "s", "0", "1"],
  ["move", "k", "1"],
  ["getex", "k", "persist"],
];

/**
 * Commands ours has beyond Redis 7.0 (hash field expiry of 7.4, ZRANK
 * WITHSCORE of 7.2, whose arity differs): GETKEYS answers them by our table.
 */
const NEWER_THAN_7_0 = new Set([
  "hexpire",
  "hpexpire",
  "hexpireat",
  "hpexpireat",
  "httl",
  "hpttl",
  "hpersist",
  "hgetex",
  "zrank",
  "zrevrank",
]);

interopTest("COMMAND GETKEYS finds the keys of every command as redis-server does", {
  binaries: ["redis-server"],
  async fn() {
    await using redis = await startRedis();
    await using cache = await startService(service);
    using ours = await RespClient.connect({ port: cache.addresses.tcp.port });
    using theirs = await RespClient.connect({ port: redis.port });
    const answer = (client: RespClient, args: string[]) =>
      client.send("COMMAND", "GETKEYS", ...args).then(
        (value) => JSON.stringify(value, (_, v) => v instanceof Uint8Array ? fromUtf8(v) : v),
        (error: Error) => error.message,
      );
    const names = (await ours.send("COMMAND", "LIST") as Uint8Array[]).map(fromUtf8);
    const cases = [
      ...GETKEYS_CASES,
      ...names.filter((name) => !NEWER_THAN_7_0.has(name)).map((
        name,
      ) => [name, "1", "a", "b", "c"]),
    ];
    const differences: string[] = [];
    for (const args of cases) {
      const [a, b] = [await answer(ours, args), await answer(theirs, args)];
      if (a !== b) differences.push(`${args.join(" ")}: ours ${a}, redis ${b}`);
    }
    assert.deepEqual(differences, []);
  },
});
