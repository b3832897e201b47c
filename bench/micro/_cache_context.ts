// An in-process cache for the micro benchmarks: a CacheServer that never
// listens, one session on database 0, and the command context the read
// loop would build for it, so commands can be decoded and dispatched
// without a socket.

import { logger } from "../../lib/log.ts";
import { ReplyWriter } from "../../lib/resp/writer.ts";
import type { Ctx, Session } from "../../services/cache/commands/context.ts";
import { CacheServer } from "../../services/cache/server.ts";

export function inProcessCache(): { out: ReplyWriter; ctx: Ctx } {
  const server = new CacheServer({
    host: "127.0.0.1",
    port: 0,
    databases: 16,
    maxmemoryBytes: 0,
    policy: "noeviction",
    log: logger("cache"),
  });
  const out = new ReplyWriter();
  const session: Session = {
    id: 1,
    db: server.keyspace.dbs[0],
    protocol: 2,
    name: "",
    authenticated: true,
    createdAt: 0,
    lastCommand: "",
    addr: "",
    laddr: "",
    multi: undefined,
    multiError: false,
    watched: new Set(),
    watchDirty: false,
    channels: new Set(),
    patterns: new Set(),
    blocked: false,
    closing: false,
    replyMode: "on",
    interactedAt: 0,
    kill() {},
    pendingBytes: () => 0,
    memory: () => ({
      queryBytes: 0,
      queryFreeBytes: 0,
      argvBytes: 0,
      replyBufferBytes: 0,
      outputBytes: 0,
      totalBytes: 0,
    }),
    deliver() {},
  };
  return { out, ctx: { server, session, out, inExec: false } };
}
