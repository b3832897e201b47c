// Fault injection and a per-client connection rate limit, set at run time
// through the admin port, so an application's tests can see how its mail
// client copes with a server that says no:
//
//   POST   /api/faults      {"command":"RCPT","count":2,"code":451,"enhanced":"4.3.0","text":"..."}
//                          the next 2 RCPT commands (any client) get that reply instead;
//                          "DATA-END" fails the final reply after a message body (not stored)
//   GET    /api/faults      the rules left and the rate limit
//   DELETE /api/faults      clears every rule and the rate limit
//   PUT    /api/rate-limit  {"connectionsPerMinute":N}: a client address opening more than N
//                          connections within a minute gets 421 4.7.0 and is closed (0: off),
//                          as Postfix's anvil does with smtpd_client_connection_rate_limit
//
// Bounded: at most RULES_MAX rules, and the rate limit remembers at most
// N timestamps per address for at most ADDRESSES_MAX addresses.

import { HttpError } from "../../lib/http/errors.ts";
import { json, readJson } from "../../lib/http/message.ts";
import type { Router } from "../../lib/http/router.ts";
import { type Reply, reply } from "../../lib/smtp/reply.ts";

const RULES_MAX = 100;
const ADDRESSES_MAX = 10_000;
const WINDOW_MS = 60_000;
const BODY_BYTES_MAX = 4096;
/** What a rule can fail: a command verb, or the end of a message body. */
const KINDS = new Set([
  "EHLO",
  "HELO",
  "MAIL",
  "RCPT",
  "DATA",
  "BDAT",
  "RSET",
  "NOOP",
  "VRFY",
  "QUIT",
  "AUTH",
  "STARTTLS",
  "DATA-END",
]);

interface Rule {
  command: string;
  remaining: number;
  reply: Reply;
}

export class Faults {
  #rules: Rule[] = [];
  connectionsPerMinute = 0;
  #recent = new Map<string, number[]>();

  /** The reply a rule forces on the next `command`, if any (and counts it). */
  take(command: string): Reply | undefined {
    if (this.#rules.length === 0) return undefined;
    const index = this.#rules.findIndex((r) => r.command === command);
    if (index < 0) return undefined;
    const rule = this.#rules[index];
    if (--rule.remaining <= 0) this.#rules.splice(index, 1);
    return rule.reply;
  }

  add(command: string, count: number, forced: Reply): void {
    if (this.#rules.length >= RULES_MAX) throw new HttpError(400, `at most ${RULES_MAX} rules`);
    this.#rules.push({ command, remaining: count, reply: forced });
  }

  clear(): void {
    this.#rules = [];
    this.connectionsPerMinute = 0;
    this.#recent.clear();
  }

  /** Records a connection from `address`; false when it passes the rate limit. */
  admit(address: string, nowMs: number): boolean {
    const limit = this.connectionsPerMinute;
    if (limit <= 0) return true;
    const times = (this.#recent.get(address) ?? []).filter((t) => nowMs - t < WINDOW_MS);
    if (times.length >= limit) {
      this.#recent.set(address, times);
      return false;
    }
    times.push(nowMs);
    this.#recent.delete(address);
    this.#recent.set(address, times);
    // Forget the longest-unseen address past the bound (Map keeps insertion order).
    if (this.#recent.size > ADDRESSES_MAX) this.#recent.delete(this.#recent.keys().next().value!);
    return true;
  }

  describe(): {
    rules: { command: string; remaining: number; reply: Reply }[];
    connectionsPerMinute: number;
  } {
    return {
      rules: this.#rules.map((r) => ({ ...r })),
      connectionsPerMinute: this.connectionsPerMinute,
    };
  }
}

/** Adds the fault routes to `router`. */
export function mountFaultApi(router: Router, faults: Faults): Router {
  const limit = { bodyLimitBytes: BODY_BYTES_MAX };
  router.get("/api/faults", () => json(faults.describe()));
  router.delete("/api/faults", () => {
    faults.clear();
    return { status: 204 };
  });
  router.post("/api/faults", async (request) => {
    const body = await readJson<Record<string, unknown>>(request, BODY_BYTES_MAX);
    const command = String(body.command ?? "").toUpperCase();
    const count = body.count ?? 1;
    const code = body.code;
    if (!KINDS.has(command)) {
      throw new HttpError(400, `command must be one of ${[...KINDS].join(" ")}`);
    }
    if (typeof count !== "number" || !Number.isInteger(count) || count < 1 || count > 1_000_000) {
      throw new HttpError(400, "count must be an integer from 1 to 1000000");
    }
    if (typeof code !== "number" || !Number.isInteger(code) || code < 400 || code > 599) {
      throw new HttpError(400, "code must be a 4xx or 5xx SMTP reply code");
    }
    const enhanced = body.enhanced === undefined ? `${String(code)[0]}.0.0` : String(body.enhanced);
    if (!new RegExp(`^${String(code)[0]}\\.\\d{1,3}\\.\\d{1,3}$`).test(enhanced)) {
      throw new HttpError(400, "enhanced must be class.subject.detail with the code's class");
    }
    const text = String(body.text ?? "Injected failure").replace(/[\r\n]/g, " ").slice(0, 200);
    faults.add(command, count, reply(code, enhanced, text));
    return json(faults.describe(), 201);
  }, limit);
  router.put("/api/rate-limit", async (request) => {
    const body = await readJson<Record<string, unknown>>(request, BODY_BYTES_MAX);
    const n = body.connectionsPerMinute;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
      throw new HttpError(400, "connectionsPerMinute must be a whole number (0: off)");
    }
    faults.connectionsPerMinute = n;
    return json(faults.describe());
  }, limit);
  return router;
}
