// Pub/sub commands (Redis "pubsub" group). Messages go out as RESP3 pushes
// (`>`) or RESP2 arrays; a RESP2 client with subscriptions may only run
// the commands Redis allows in that context (dispatch.ts). Left out:
// sharded pub/sub (SSUBSCRIBE, SPUBLISH).

import type { Args } from "./context.ts";
import type { ReplyWriter } from "../../../lib/resp/writer.ts";
import { globMatch, toKey } from "../values.ts";
import { command, type CommandSpec, type Ctx, type ServerState, type Session } from "./context.ts";

function subscriptionCount(session: Session): number {
  return session.channels.size + session.patterns.size;
}

function confirm(out: ReplyWriter, kind: string, name: string | null, count: number): void {
  out.pushHeader(3);
  out.bulkString(kind);
  if (name === null) out.nullBulk();
  else out.bulkString(name);
  out.integer(count);
}

function subscribe(pattern: boolean) {
  return (ctx: Ctx, args: Args) => {
    const mine = pattern ? ctx.session.patterns : ctx.session.channels;
    const registry = pattern ? ctx.server.patterns : ctx.server.channels;
    for (let i = 1; i < args.length; i++) {
      const name = toKey(args.at(i));
      if (!mine.has(name)) {
        mine.add(name);
        let set = registry.get(name);
        if (set === undefined) registry.set(name, set = new Set());
        set.add(ctx.session);
      }
      confirm(ctx.out, pattern ? "psubscribe" : "subscribe", name, subscriptionCount(ctx.session));
    }
  };
}

/** Drops one subscription from the session and the registry. */
function drop(ctx: Ctx, pattern: boolean, name: string): boolean {
  const mine = pattern ? ctx.session.patterns : ctx.session.channels;
  const registry = pattern ? ctx.server.patterns : ctx.server.channels;
  if (!mine.delete(name)) return false;
  const set = registry.get(name);
  set?.delete(ctx.session);
  if (set?.size === 0) registry.delete(name);
  return true;
}

function unsubscribe(pattern: boolean) {
  return (ctx: Ctx, args: Args) => {
    const kind = pattern ? "punsubscribe" : "unsubscribe";
    const mine = pattern ? ctx.session.patterns : ctx.session.channels;
    const names = args.length > 1 ? args.slice(1).map(toKey) : [...mine];
    if (names.length === 0) {
      confirm(ctx.out, kind, null, subscriptionCount(ctx.session));
      return;
    }
    for (const name of names) {
      drop(ctx, pattern, name);
      confirm(ctx.out, kind, name, subscriptionCount(ctx.session));
    }
  };
}

/** Removes every subscription of a session (on disconnect or RESET). */
export function unsubscribeAll(ctx: Ctx): void {
  for (const name of [...ctx.session.channels]) drop(ctx, false, name);
  for (const name of [...ctx.session.patterns]) drop(ctx, true, name);
}

function publish(ctx: Ctx, args: Args): void {
  ctx.out.integer(publishMessage(ctx.server, toKey(args.at(1)), toKey(args.at(2))));
}

/** Delivers a message to a channel's subscribers and matching patterns; how many got it. */
export function publishMessage(server: ServerState, channel: string, message: string): number {
  let receivers = 0;
  for (const session of server.channels.get(channel) ?? []) {
    session.deliver((out) => {
      out.pushHeader(3);
      out.bulkString("message");
      out.bulkString(channel);
      out.bulkString(message);
    });
    receivers++;
  }
  for (const [pattern, sessions] of server.patterns) {
    if (!globMatch(pattern, channel)) continue;
    for (const session of sessions) {
      session.deliver((out) => {
        out.pushHeader(4);
        out.bulkString("pmessage");
        out.bulkString(pattern);
        out.bulkString(channel);
        out.bulkString(message);
      });
      receivers++;
    }
  }
  return receivers;
}

function pubsubChannels(ctx: Ctx, args: Args): void {
  const pattern = args.length > 2 ? toKey(args.at(2)) : undefined;
  const names = [...ctx.server.channels.keys()].filter((name) =>
    pattern === undefined || globMatch(pattern, name)
  );
  ctx.out.arrayHeader(names.length);
  for (const name of names) ctx.out.bulkString(name);
}

function pubsubNumsub(ctx: Ctx, args: Args): void {
  ctx.out.mapHeader(args.length - 2);
  for (let i = 2; i < args.length; i++) {
    const name = toKey(args.at(i));
    ctx.out.bulkString(name);
    ctx.out.integer(ctx.server.channels.get(name)?.size ?? 0);
  }
}

const g = { group: "pubsub" } as const;
const flags = ["pubsub", "noscript", "loading", "stale"] as const;

export const PUBSUB_COMMANDS: CommandSpec[] = [
  command("subscribe", -2, flags, subscribe(false), g),
  command("psubscribe", -2, flags, subscribe(true), g),
  command("unsubscribe", -1, flags, unsubscribe(false), g),
  command("punsubscribe", -1, flags, unsubscribe(true), g),
  command("publish", 3, [...flags, "fast"], publish, g),
  command("pubsub", -2, [], () => {}, {
    ...g,
    subcommands: [
      command("pubsub|channels", -2, flags, pubsubChannels, g),
      command("pubsub|numsub", -2, flags, pubsubNumsub, g),
      command("pubsub|numpat", 2, flags, (ctx) => ctx.out.integer(ctx.server.patterns.size), g),
    ],
  }),
];
