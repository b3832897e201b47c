// The command table: every command underhood knows, in the order `help`
// lists them. A command whose module is not written yet has no `load`; it is
// listed as "not built yet" and the stack supervisor skips it. Services live
// in services/<name>/, tools (start, dig, curl) in tools/<name>/.
//
// Each `load` names its module literally, so `deno check` and `deno compile`
// see every import (no name-built dispatch).

import type { CommandEntry, CommandTable } from "./lib/service.ts";

export type { CommandEntry, CommandTable };

export const COMMANDS: CommandTable = {
  dns: {
    kind: "service",
    summary: "authoritative DNS server (UDP and TCP, port 1053)",
    load: async () => (await import("./services/dns/mod.ts")).service,
  },
  resolver: {
    kind: "service",
    summary: "recursive caching DNS resolver (port 5354)",
    load: async () => (await import("./services/resolver/mod.ts")).service,
  },
  "http-api": {
    kind: "service",
    summary: "the spells REST JSON API over HTTP/1.1 (port 8001)",
    load: async () => (await import("./services/http_api/mod.ts")).service,
  },
  lb: {
    kind: "service",
    summary: "HTTP load balancer and reverse proxy (port 8080)",
    load: async () => (await import("./services/lb/mod.ts")).service,
  },
  datastore: {
    kind: "service",
    summary: "persistent SQL row store over the PostgreSQL wire protocol (port 8004)",
    load: async () => (await import("./services/datastore/mod.ts")).service,
  },
  cache: {
    kind: "service",
    summary: "in-memory key-value cache over the Redis protocol (port 8005)",
    load: async () => (await import("./services/cache/mod.ts")).service,
  },
  mq: {
    kind: "service",
    summary: "durable message queue over STOMP 1.2 (port 8006)",
    load: async () => (await import("./services/mq/mod.ts")).service,
  },
  objects: {
    kind: "service",
    summary: "object storage over the S3 REST API (port 8007)",
    load: async () => (await import("./services/objects/mod.ts")).service,
  },
  smtp: {
    kind: "service",
    summary: "SMTP server that accepts, stores and delivers mail (port 2525)",
    load: async () => (await import("./services/smtp/mod.ts")).service,
  },
  worker: {
    kind: "service",
    summary: "background worker: spell.created events to mail",
    load: async () => (await import("./services/worker/mod.ts")).service,
  },
  start: {
    kind: "tool",
    summary: "run the whole stack, one supervised process per service",
    // The stack gets this table as an argument instead of importing it back.
    load: async () => (await import("./tools/stack/mod.ts")).stackCommand(COMMANDS),
  },
  dig: {
    kind: "tool",
    summary: "DNS lookup client in the familiar dig layout",
    load: async () => (await import("./tools/dig/mod.ts")).dig,
  },
  curl: {
    kind: "tool",
    summary: "HTTP/1.1 client like curl, resolving names through our resolver",
    load: async () => (await import("./tools/curl/mod.ts")).curl,
  },
};

/** True when the command's module exists. */
export function isBuilt(name: string): boolean {
  return COMMANDS[name]?.load !== undefined;
}
