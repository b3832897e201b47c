// Waiting for a condition instead of sleeping a guessed time: poll it, a
// bounded number of times, and fail with what was being waited for.

import { closeQuietly } from "../../../lib/net/close.ts";

/** Resolves once `condition()` is true; throws after `attempts` polls `intervalMs` apart. */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  options: { attempts?: number; intervalMs?: number } = {},
): Promise<void> {
  const attempts = options.attempts ?? 500;
  const intervalMs = options.intervalMs ?? 10;
  for (let i = 0; i < attempts; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** How long a read helper waits before giving up: a failsafe, never an assertion. */
const GIVE_UP_MS = 10_000;

/**
 * Reads from `conn` until the peer closes it; returns what arrived as
 * latin1, followed by "<still open>" if the peer had not closed it after
 * GIVE_UP_MS (so a broken server fails the test instead of hanging it).
 */
export async function readUntilClosed(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(65536);
  let text = "";
  let gaveUp = false;
  const timer = setTimeout(() => {
    gaveUp = true;
    closeQuietly(conn);
  }, GIVE_UP_MS);
  try {
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        n = null; // reset by the peer, or closed by the failsafe
      }
      if (n === null) return gaveUp ? text + "<still open>" : text;
      text += String.fromCharCode(...buf.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Reads from `conn` until `length` bytes arrived or the peer closes; returns them as latin1. */
export async function readBytes(conn: Deno.Conn, length: number): Promise<string> {
  const buf = new Uint8Array(65536);
  let text = "";
  while (text.length < length) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += String.fromCharCode(...buf.subarray(0, n));
  }
  return text;
}
