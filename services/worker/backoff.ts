// Exponential backoff with jitter, bounded: the delay before retry n
// (0-based) is drawn from [d/2, d] with d = min(maxMs, baseMs * 2^n)
// ("equal jitter", from the AWS Architecture Blog's "Exponential Backoff
// And Jitter"). The random half spreads the retries of many messages that
// failed together (an SMTP server coming back would otherwise get them all
// at once); the fixed half keeps each retry from coming too soon. Pure: the
// random source is a parameter.

export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** The delay before retry `retry` (0 is the first retry). */
export function backoffDelayMs(
  retry: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  // 2^31 already passes any sane maxMs; capping the exponent keeps the product finite.
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(retry, 31));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Resolves after `ms`, or at once (false) when `signal` aborts; true when the time passed. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
