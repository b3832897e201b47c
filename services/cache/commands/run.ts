// Running one resolved command: the handler, then WATCH bookkeeping for
// the keys a write names; a CommandError becomes its error reply (and any
// partial reply the handler wrote is taken back). Shared by dispatch and by
// EXEC, which runs the commands MULTI queued.

import type { Bytes } from "../../../lib/bytes.ts";
import { toKey } from "../values.ts";
import { type Blocked, CommandError, type CommandSpec, type Ctx } from "./context.ts";

/** Calls the handler; returns a Blocked description when the client must wait. */
export function runCommand(ctx: Ctx, args: Bytes[], spec: CommandSpec): void | Blocked {
  const mark = ctx.out.length;
  ctx.server.stats.commands++;
  let stat = ctx.server.commandStats.get(spec.name);
  if (stat === undefined) ctx.server.commandStats.set(spec.name, stat = { calls: 0, failed: 0 });
  stat.calls++;
  try {
    const result = spec.run(ctx, args);
    if (spec.writesKeys) touchKeys(ctx, spec, args);
    return result;
  } catch (error) {
    ctx.out.truncate(mark);
    stat.failed++;
    if (error instanceof CommandError) {
      ctx.out.error(error.message);
      return;
    }
    ctx.out.error(`ERR ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Marks the keys a write command names as touched, for WATCH. */
function touchKeys(ctx: Ctx, spec: CommandSpec, args: Bytes[]): void {
  const watches = ctx.server.watches;
  if (watches.size === 0) return;
  const last = spec.lastKey < 0 ? args.length + spec.lastKey : spec.lastKey;
  const dbIndex = ctx.session.db.index;
  const step = Math.max(1, spec.step);
  for (let i = spec.firstKey; i <= last && i < args.length; i += step) {
    watches.touch(dbIndex, toKey(args[i]));
  }
}
