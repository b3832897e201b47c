// Connections to one dependency (the datastore, the cache), kept open and
// reused, with what the API needs when that dependency goes away and comes
// back without a restart:
//
// - Backoff: after a failed connect or a broken connection, no new connect
//   is tried before `retryAt` (100 ms, doubling up to 5 s, with jitter so two
//   API copies do not knock in step). Until then every caller fails at once
//   with DependencyDown, so a dead dependency costs a request microseconds,
//   not a connect timeout, and the dependency is not hammered as it starts.
//   The first caller after `retryAt` tries a connect: that is the whole
//   reconnect loop, driven by traffic and by /readyz's probes (no timer).
// - Timeouts: a connect and each use run under a deadline; past it the
//   connection is closed (which ends the read in flight) and counted broken.
// - Stale connections: when one connection breaks, the idle ones are closed
//   too (they were almost always opened to the same process, now gone); an
//   idempotent use is then retried once on a fresh connection. A reused
//   connection breaking does not by itself start the backoff (the
//   dependency may just have restarted); the fresh connect decides.
// - Bounds: at most `sizeMax` connections, at most `waitersMax` callers
//   waiting for one; past that a caller gets DependencyDown ("busy").

import type { Logger } from "@logtape/logtape";

/** A dependency is down (or saturated): the API answers 503 or degrades. */
export class DependencyDown extends Error {
  override name = "DependencyDown";
  readonly dependency: string;
  constructor(dependency: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.dependency = dependency;
  }
}

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** The clock (tests move it). */
  now?: () => number;
  /** A number in [0, 1) (tests fix it). */
  random?: () => number;
}

/** Exponential backoff with jitter: when the next attempt may run. Pure apart from its clock. */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #now: () => number;
  readonly #random: () => number;
  #delayMs = 0;
  #retryAt = 0;
  failures = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 100;
    this.#maxMs = options.maxMs ?? 5_000;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** True when an attempt may be made now. */
  get open(): boolean {
    return this.#now() >= this.#retryAt;
  }

  /** Milliseconds until the next attempt may run (0 when open). */
  get waitMs(): number {
    return Math.max(0, this.#retryAt - this.#now());
  }

  failed(): void {
    this.failures++;
    this.#delayMs = this.#delayMs === 0
      ? this.#initialMs
      : Math.min(this.#maxMs, this.#delayMs * 2);
    // Full jitter on the upper half: between delay/2 and delay.
    this.#retryAt = this.#now() + this.#delayMs / 2 + this.#random() * this.#delayMs / 2;
  }

  succeeded(): void {
    this.failures = 0;
    this.#delayMs = 0;
    this.#retryAt = 0;
  }
}

export interface PoolOptions<C> {
  /** The dependency's name, for errors, logs and /readyz ("datastore"). */
  name: string;
  connect(): Promise<C>;
  close(connection: C): void;
  /** True when an error thrown by a use means the connection cannot be used again. */
  isBroken(error: unknown): boolean;
  sizeMax?: number;
  waitersMax?: number;
  connectTimeoutMs?: number;
  useTimeoutMs?: number;
  backoff?: Backoff;
  log: Logger;
}

interface Waiter<C> {
  resolve(connection: C): void;
  reject(error: Error): void;
}

/** Time a connection may take, and a use: generous for a loopback dependency under load. */
const CONNECT_TIMEOUT_MS = 2_000;
const USE_TIMEOUT_MS = 5_000;

export class ConnectionPool<C> {
  readonly name: string;
  readonly #options: PoolOptions<C>;
  readonly #backoff: Backoff;
  readonly #sizeMax: number;
  readonly #waitersMax: number;
  #idle: C[] = [];
  #open = 0;
  #waiters: Waiter<C>[] = [];
  #closed = false;
  /** What the last failure was, while the dependency is down. */
  lastError: string | undefined;

  constructor(options: PoolOptions<C>) {
    this.name = options.name;
    this.#options = options;
    this.#backoff = options.backoff ?? new Backoff();
    this.#sizeMax = options.sizeMax ?? 4;
    this.#waitersMax = options.waitersMax ?? 256;
  }

  /** False from a failure until the next successful connect or use. */
  get up(): boolean {
    return this.lastError === undefined;
  }

  /** Open connections (idle and in use). */
  get size(): number {
    return this.#open;
  }

  /**
   * Runs `fn` on a connection. Errors of `fn` that leave the connection
   * usable (a SQL error) are rethrown as they are; a broken connection
   * becomes DependencyDown (after one retry on a fresh connection when
   * `idempotent` and the broken one had been reused).
   */
  async use<T>(fn: (connection: C) => Promise<T>, options: { idempotent?: boolean } = {}) {
    const { connection, reused } = await this.#acquire();
    try {
      return await this.#run(connection, fn, reused);
    } catch (error) {
      if (!(error instanceof DependencyDown) || !reused || options.idempotent !== true) throw error;
    }
    const fresh = await this.#acquire(true);
    return await this.#run(fresh.connection, fn, false);
  }

  async #run<T>(connection: C, fn: (connection: C) => Promise<T>, reused: boolean): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    try {
      const result = await Promise.race([
        fn(connection),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            timedOut = true;
            this.#options.close(connection); // ends the read in flight
            reject(
              new Error(`no answer within ${this.#options.useTimeoutMs ?? USE_TIMEOUT_MS} ms`),
            );
          }, this.#options.useTimeoutMs ?? USE_TIMEOUT_MS);
        }),
      ]);
      this.#release(connection);
      this.#recovered();
      return result;
    } catch (error) {
      if (timedOut || this.#options.isBroken(error)) {
        this.#discard(connection);
        // A reused connection that broke is most often stale: the dependency
        // restarted while it sat idle. That alone is no outage (the next
        // connect says whether there is one), so only a fresh connection's
        // failure or a timeout starts the backoff.
        if (timedOut || !reused) this.#failed(error);
        // Its idle siblings most likely point at the same process, gone.
        for (const idle of this.#idle.splice(0)) this.#discard(idle);
        throw new DependencyDown(this.name, `${this.name}: ${describe(error)}`, { cause: error });
      }
      this.#release(connection);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async #acquire(fresh = false): Promise<{ connection: C; reused: boolean }> {
    if (this.#closed) throw new DependencyDown(this.name, `${this.name}: client closed`);
    if (!fresh) {
      const idle = this.#idle.pop();
      if (idle !== undefined) return { connection: idle, reused: true };
    }
    if (this.#open < this.#sizeMax) return { connection: await this.#connect(), reused: false };
    if (this.#waiters.length >= this.#waitersMax) {
      throw new DependencyDown(
        this.name,
        `${this.name}: all ${this.#sizeMax} connections busy and ${this.#waitersMax} requests waiting`,
      );
    }
    const connection = await new Promise<C>((resolve, reject) =>
      this.#waiters.push({ resolve, reject })
    );
    return { connection, reused: true };
  }

  async #connect(): Promise<C> {
    if (!this.#backoff.open) {
      throw new DependencyDown(
        this.name,
        `${this.name} is down (${this.lastError}); next reconnect in ${this.#backoff.waitMs} ms`,
      );
    }
    this.#open++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const connecting = this.#options.connect();
    try {
      const connection = await Promise.race([
        connecting,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("connect timed out")),
            this.#options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
          );
        }),
      ]);
      this.#recovered();
      return connection;
    } catch (error) {
      // A connect that finishes after its timeout is closed, not leaked.
      connecting.then((late) => this.#options.close(late), () => {});
      this.#open--;
      this.#failed(error);
      this.#wakeWaiter();
      throw new DependencyDown(this.name, `${this.name}: ${describe(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  #release(connection: C): void {
    if (this.#closed) {
      this.#discard(connection);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter.resolve(connection);
    else this.#idle.push(connection);
  }

  #discard(connection: C): void {
    this.#open--;
    try {
      this.#options.close(connection);
    } catch {
      // Already closed.
    }
    this.#wakeWaiter();
  }

  /** A slot freed up: the first waiter opens its own connection (or fails fast while down). */
  #wakeWaiter(): void {
    const waiter = this.#waiters.shift();
    if (waiter === undefined) return;
    this.#connect().then(waiter.resolve, waiter.reject);
  }

  #failed(error: unknown): void {
    const wasUp = this.up;
    this.lastError = describe(error);
    this.#backoff.failed();
    if (wasUp) {
      this.#options.log.warn("{dependency} is down: {error}; reconnecting with backoff", {
        dependency: this.name,
        error: this.lastError,
      });
    }
  }

  #recovered(): void {
    if (this.up) return;
    this.#backoff.succeeded();
    this.#options.log.info("{dependency} is back", { dependency: this.name });
    this.lastError = undefined;
  }

  /** Closes every connection; waiters fail. */
  close(): void {
    this.#closed = true;
    for (const idle of this.#idle.splice(0)) this.#discard(idle);
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(new DependencyDown(this.name, `${this.name}: client closed`));
    }
  }
}

/** An error's message, for logs and problem details. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
