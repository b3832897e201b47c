// Running one resolved command: the handler, with its calls counted for
// INFO commandstats; a CommandError becomes its error reply (and any
// partial reply the handler wrote is taken back). WATCH bookkeeping is not
// here: the keyspace reports each key it changes (keyspace.ts hooks).
// Shared by dispatch and by EXEC, which runs the commands MULTI queued.

import type { Args } from "./context.ts";
import { type Blocked, CommandError, type CommandSpec, type Ctx } from "./context.ts";
import { feedMonitors } from "./introspection.ts";

/** Calls the handler; returns a Blocked description when the client must wait. */
export function runCommand(ctx: Ctx, args: Args, spec: CommandSpec): void | Blocked {
  const mark = ctx.out.length;
  ctx.server.stats.commands++;
  let stat = ctx.server.commandStats.get(spec.name);
  if (stat === undefined) ctx.server.commandStats.set(spec.name, stat = { calls: 0, failed: 0 });
  stat.calls++;
  const notifying = ctx.server.notifyFlags !== 0;
  if (notifying) ctx.server.startChanges();
  const outerLookups = ctx.server.enterLookups(spec, args);
  // Timed for SLOWLOG when it could be slow enough to log (introspection.ts):
  // a clock read costs as much as a whole O(1) command here.
  const slowlog = ctx.server.slowlog;
  const started = slowlog.times(spec) ? performance.now() : -1;
  try {
    return spec.run(ctx, args);
  } catch (error) {
    ctx.out.truncate(mark);
    stat.failed++;
    const message = error instanceof CommandError
      ? error.message
      : `ERR ${error instanceof Error ? error.message : String(error)}`;
    ctx.server.countError(message);
    ctx.out.error(message);
  } finally {
    ctx.server.leaveLookups(outerLookups);
    if (notifying) ctx.server.emitChanges(spec.name, args);
    if (started >= 0) slowlog.record(ctx.session, args, (performance.now() - started) * 1000);
    // Admin commands are not shown to monitors, as in Redis.
    if (ctx.server.monitors.size > 0 && !spec.flags.includes("admin")) {
      feedMonitors(ctx, spec.name, args);
    }
  }
}
