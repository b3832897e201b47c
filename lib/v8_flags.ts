// The V8 flags every service process runs with: deno.json's tasks, the
// stack's children (tools/stack), the Dockerfile, `deno compile`
// (scripts/compile.ts) and the test and bench spawns all pass V8_FLAGS_ARG.
//
// V8's experimental linear-time RegExp engine: a JavaScript RegExp
// backtracks, and a pattern like (a|a)*b on a long input runs for hours
// without ever returning to the event loop. With
// --enable-experimental-regexp-engine-on-excessive-backtracks, V8 gives up
// backtracking after a bounded number of steps and re-runs the match on its
// linear-time engine, for every RegExp that engine can run (no u or i
// flag, no backreferences or lookahead, small counted repeats). The
// datastore's SQL regular expressions (services/datastore/sql/regex.ts) are
// translated to that shape whenever they can be. The second flag,
// --enable-experimental-regexp-engine, adds the `l` flag that lets
// linearRegexEngine() find out whether a RegExp qualifies; a process
// started without these flags does not have the fallback, and the
// datastore then refuses the pattern shapes that backtrack badly.

/** The flags, as V8 spells them. */
export const V8_FLAGS: readonly string[] = [
  "--enable-experimental-regexp-engine",
  "--enable-experimental-regexp-engine-on-excessive-backtracks",
];

/** The `deno run` / `deno compile` argument that sets them. */
export const V8_FLAGS_ARG = `--v8-flags=${V8_FLAGS.join(",")}`;

/**
 * Deno flags with ours added: merged into a `--v8-flags=` already there
 * (deno keeps only the last one given), else appended.
 */
export function withServiceV8Flags(denoFlags: readonly string[] = []): string[] {
  const at = denoFlags.findIndex((f) => f.startsWith("--v8-flags="));
  if (at < 0) return [...denoFlags, V8_FLAGS_ARG];
  const merged = [...denoFlags];
  merged[at] = `${denoFlags[at]},${V8_FLAGS.join(",")}`;
  return merged;
}

let available: boolean | undefined;

/** Whether this process runs with V8_FLAGS (the `l` RegExp flag exists). */
export function linearRegexEngine(): boolean {
  if (available === undefined) {
    try {
      // deno-lint-ignore no-invalid-regexp -- `l` exists only with V8_FLAGS: that is the question
      new RegExp("", "l");
      available = true;
    } catch {
      available = false;
    }
  }
  return available;
}

/** Whether V8's linear-time engine can run this source with these flags (u and i never). */
export function runsInLinearTime(source: string, flags: string): boolean {
  if (!linearRegexEngine()) return false;
  try {
    new RegExp(source, `${flags}l`);
    return true;
  } catch {
    return false;
  }
}
