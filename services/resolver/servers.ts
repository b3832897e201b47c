// What the resolver remembers about upstream name servers: a smoothed round
// trip time per address, and which ones stopped answering.
//
// Servers are tried fastest first (as BIND and Unbound do with their SRTT
// tables), unknown ones get a small random estimate so they are explored,
// and a server that timed out several times in a row is set aside as dead
// for a while, tried only when nothing else is left.

export interface ServerStatsOptions {
  /** Consecutive timeouts before a server is set aside. */
  timeoutsBeforeDead: number;
  /** How long a dead server is set aside (Unbound's infra-host-ttl is 900 s). */
  deadForMs: number;
  /** Bound on remembered servers; the oldest entries are forgotten first. */
  serversMax: number;
}

export const DEFAULT_SERVER_STATS: ServerStatsOptions = {
  timeoutsBeforeDead: 3,
  deadForMs: 60_000,
  serversMax: 10_000,
};

/** Estimate for a server never measured: small, so it is tried early. */
const UNKNOWN_RTT_MS = 50;
/** Ceiling for backed-off estimates. */
const MAX_RTT_MS = 120_000;

interface Stats {
  srttMs: number;
  consecutiveTimeouts: number;
  deadUntilMs: number;
}

export class ServerStats {
  readonly #options: ServerStatsOptions;
  readonly #now: () => number;
  readonly #servers = new Map<string, Stats>();

  constructor(options: Partial<ServerStatsOptions> = {}, now: () => number = Date.now) {
    this.#options = { ...DEFAULT_SERVER_STATS, ...options };
    this.#now = now;
  }

  /** A reply came back after `rttMs`. */
  recordReply(server: string, rttMs: number): void {
    const stats = this.#get(server);
    stats.srttMs = stats.consecutiveTimeouts > 0 || stats.srttMs === UNKNOWN_RTT_MS
      ? rttMs
      : 0.7 * stats.srttMs + 0.3 * rttMs;
    stats.consecutiveTimeouts = 0;
    stats.deadUntilMs = 0;
  }

  /** A query to `server` went unanswered. */
  recordTimeout(server: string): void {
    const stats = this.#get(server);
    stats.srttMs = Math.min(MAX_RTT_MS, Math.max(stats.srttMs, UNKNOWN_RTT_MS) * 2);
    stats.consecutiveTimeouts++;
    if (stats.consecutiveTimeouts >= this.#options.timeoutsBeforeDead) {
      stats.deadUntilMs = this.#now() + this.#options.deadForMs;
    }
  }

  /** True while the server is set aside. */
  isDead(server: string): boolean {
    const stats = this.#servers.get(server);
    return stats !== undefined && stats.deadUntilMs > this.#now();
  }

  /** The smoothed RTT, or undefined if never measured. */
  rttMs(server: string): number | undefined {
    return this.#servers.get(server)?.srttMs;
  }

  /** The servers in the order to try them: live ones by SRTT, then dead ones. */
  order(servers: readonly string[]): string[] {
    const keyed = servers.map((server) => {
      const stats = this.#servers.get(server);
      const estimate = stats?.srttMs ?? UNKNOWN_RTT_MS * (0.5 + Math.random());
      return { server, dead: this.isDead(server), estimate };
    });
    keyed.sort((a, b) => Number(a.dead) - Number(b.dead) || a.estimate - b.estimate);
    return keyed.map((k) => k.server);
  }

  #get(server: string): Stats {
    let stats = this.#servers.get(server);
    if (stats === undefined) {
      if (this.#servers.size >= this.#options.serversMax) {
        const oldest = this.#servers.keys().next().value;
        if (oldest !== undefined) this.#servers.delete(oldest);
      }
      stats = { srttMs: UNKNOWN_RTT_MS, consecutiveTimeouts: 0, deadUntilMs: 0 };
      this.#servers.set(server, stats);
    }
    return stats;
  }
}
