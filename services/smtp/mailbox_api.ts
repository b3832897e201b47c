// The mailbox API on the admin port (JSON over lib/http, in the spirit of
// Mailpit's): what tests and developers use to see the mail that arrived.
//
//   GET    /api/mailboxes                              every mailbox and its count
//   GET    /api/mailboxes/:address/messages            summaries, newest first
//          ?from=&to=&subject=                         (substring filters, any case)
//   GET    /api/mailboxes/:address/messages/:id        parsed: headers, text, html,
//                                                      attachments (npm:mailparser)
//   GET    /api/mailboxes/:address/messages/:id/raw    the message as stored
//   DELETE /api/mailboxes/:address/messages/:id        removes it (durably)
//   GET    /api/search?from=&to=&subject=              summaries across mailboxes
//
// Summaries come from the message head only (at most HEAD_BYTES_MAX read,
// folded lines joined, RFC 2047 encoded words decoded); the full parse runs
// only for one message. A listing returns at most `limit` (default 100,
// at most 1000) summaries, so one request never reads every file.

import type { FileLayer } from "../../lib/fs/file_layer.ts";
import type { HttpRequest, HttpResponse } from "../../lib/http/message.ts";
import { json, jsonError } from "../../lib/http/message.ts";
import type { Router } from "../../lib/http/router.ts";
import { isMailbox } from "../../lib/smtp/command.ts";
import type { MailStore } from "./store.ts";

/** Head bytes read for a summary: more than any sane header block. */
const HEAD_BYTES_MAX = 64 * 1024;
const LIMIT_DEFAULT = 100;
const LIMIT_MAX = 1000;
/** Our Maildir names (store.ts uniqueName): no slashes, no leading dot. */
const MESSAGE_ID = /^[0-9A-Za-z][0-9A-Za-z._%+=-]*$/;

export interface MessageSummary {
  id: string;
  mailbox: string;
  from: string;
  to: string;
  subject: string;
  date: string;
  sizeBytes: number;
}

/** Adds the mailbox routes to `router`. */
export function mountMailboxApi(router: Router, store: MailStore): Router {
  const api = new MailboxApi(store);
  router.get("/api/mailboxes", () => json(api.mailboxes()));
  router.get("/api/mailboxes/:address/messages", (r) => api.list(r));
  router.get("/api/mailboxes/:address/messages/:id", (r) => api.parsed(r));
  router.get("/api/mailboxes/:address/messages/:id/raw", (r) => api.raw(r));
  router.delete("/api/mailboxes/:address/messages/:id", (r) => api.remove(r));
  router.get("/api/search", (r) => api.search(r));
  return router;
}

class MailboxApi {
  #store: MailStore;
  #files: FileLayer;

  constructor(store: MailStore) {
    this.#store = store;
    this.#files = store.files;
  }

  mailboxes(): { address: string; messages: number }[] {
    const out: { address: string; messages: number }[] = [];
    const root = `${this.#store.dataDir}/mail`;
    for (const domain of this.#listDir(root)) {
      for (const user of this.#listDir(`${root}/${domain}`)) {
        const address = `${decodeURIComponent(user)}@${decodeURIComponent(domain)}`;
        out.push({ address, messages: this.#names(address).length });
      }
    }
    return out;
  }

  list(request: HttpRequest): HttpResponse {
    const address = addressOf(request);
    if (address === undefined) return jsonError(400, "not a mailbox address");
    return json(this.#filter(this.#summaries(address), request));
  }

  search(request: HttpRequest): HttpResponse {
    const all = this.mailboxes().flatMap((m) => this.#summaries(m.address));
    return json(this.#filter(all, request));
  }

  async parsed(request: HttpRequest): Promise<HttpResponse> {
    const found = this.#find(request);
    if ("error" in found) return found.error;
    const bytes = this.#files.readFile(found.path);
    if (bytes === null) return jsonError(404, "no such message");
    const { simpleParser } = await import("mailparser");
    // deno-lint-ignore no-explicit-any
    const mail: any = await simpleParser(new TextDecoder().decode(bytes));
    const headers: { key: string; line: string }[] = mail.headerLines ?? [];
    return json({
      id: found.id,
      mailbox: found.address,
      headers: headers.map((h) => ({
        name: h.key,
        value: h.line.slice(h.line.indexOf(":") + 1).trim(),
      })),
      from: mail.from?.text ?? "",
      to: mail.to === undefined
        ? ""
        : [mail.to].flat().map((a: { text: string }) => a.text).join(", "),
      subject: mail.subject ?? "",
      date: mail.date instanceof Date ? mail.date.toISOString() : "",
      text: mail.text ?? "",
      html: typeof mail.html === "string" ? mail.html : "",
      attachments: (mail.attachments ?? []).map((
        a: { filename?: string; contentType: string; size: number },
      ) => ({ filename: a.filename ?? "", contentType: a.contentType, sizeBytes: a.size })),
    });
  }

  raw(request: HttpRequest): HttpResponse {
    const found = this.#find(request);
    if ("error" in found) return found.error;
    const bytes = this.#files.readFile(found.path);
    if (bytes === null) return jsonError(404, "no such message");
    return { status: 200, headers: { "content-type": "message/rfc822" }, body: bytes };
  }

  remove(request: HttpRequest): HttpResponse {
    const found = this.#find(request);
    if ("error" in found) return found.error;
    this.#files.remove(found.path);
    this.#files.syncDirectory(found.path.slice(0, found.path.lastIndexOf("/")));
    return { status: 204 };
  }

  #find(
    request: HttpRequest,
  ): { address: string; id: string; path: string } | { error: HttpResponse } {
    const address = addressOf(request);
    if (address === undefined) return { error: jsonError(400, "not a mailbox address") };
    const id = request.params.id;
    if (!MESSAGE_ID.test(id)) return { error: jsonError(400, "not a message id") };
    const maildir = this.#store.maildirOf(address);
    for (const sub of ["new", "cur"]) {
      const path = `${maildir}/${sub}/${id}`;
      if (this.#files.sizeOf(path) !== null) return { address, id, path };
    }
    return { error: jsonError(404, "no such message") };
  }

  /** Message file names of a mailbox with their paths, newest first. */
  #names(address: string): { id: string; path: string }[] {
    const maildir = this.#store.maildirOf(address);
    const out: { id: string; path: string }[] = [];
    for (const sub of ["new", "cur"]) {
      for (const id of this.#listDir(`${maildir}/${sub}`)) {
        if (MESSAGE_ID.test(id)) out.push({ id, path: `${maildir}/${sub}/${id}` });
      }
    }
    // Names start with the arrival time in ms, then a sequence: sortable.
    return out.sort((a, b) => compareNames(b.id, a.id));
  }

  #summaries(address: string): MessageSummary[] {
    const out: MessageSummary[] = [];
    for (const { id, path } of this.#names(address).slice(0, LIMIT_MAX)) {
      const summary = this.#summary(address, id, path);
      if (summary !== undefined) out.push(summary);
    }
    return out;
  }

  #summary(mailbox: string, id: string, path: string): MessageSummary | undefined {
    const sizeBytes = this.#files.sizeOf(path);
    if (sizeBytes === null) return undefined;
    const head = new Uint8Array(Math.min(HEAD_BYTES_MAX, sizeBytes));
    const handle = this.#files.open(path);
    try {
      handle.readAt(head, 0);
    } finally {
      handle.close();
    }
    const headers = parseHead(new TextDecoder().decode(head));
    return {
      id,
      mailbox,
      from: headers.get("from") ?? "",
      to: headers.get("to") ?? "",
      subject: headers.get("subject") ?? "",
      date: headers.get("date") ?? "",
      sizeBytes,
    };
  }

  #filter(summaries: MessageSummary[], request: HttpRequest): MessageSummary[] {
    const query = new URLSearchParams(request.query);
    const limit = Math.min(
      LIMIT_MAX,
      Math.max(1, Number(query.get("limit") ?? LIMIT_DEFAULT) || 1),
    );
    const wanted = (field: "from" | "to" | "subject") => query.get(field)?.toLowerCase();
    const from = wanted("from");
    const to = wanted("to");
    const subject = wanted("subject");
    return summaries.filter((s) =>
      (from === undefined || s.from.toLowerCase().includes(from)) &&
      (to === undefined || s.to.toLowerCase().includes(to) || s.mailbox.includes(to)) &&
      (subject === undefined || s.subject.toLowerCase().includes(subject))
    ).slice(0, limit);
  }

  #listDir(dir: string): string[] {
    try {
      return this.#files.list(dir);
    } catch {
      return [];
    }
  }
}

function addressOf(request: HttpRequest): string | undefined {
  let address: string;
  try {
    address = decodeURIComponent(request.params.address);
  } catch {
    return undefined;
  }
  return isMailbox(address) ? address : undefined;
}

function compareNames(a: string, b: string): number {
  const [ta, qa] = a.split(".");
  const [tb, qb] = b.split(".");
  return Number(ta) - Number(tb) || Number(qa.slice(1).split("R")[0]) -
      Number(qb.slice(1).split("R")[0]) ||
    (a < b ? -1 : a > b ? 1 : 0);
}

/** The header block's fields, lower-cased names, folded lines joined, encoded words decoded. */
export function parseHead(text: string): Map<string, string> {
  const end = text.search(/\r?\n\r?\n/);
  const block = end < 0 ? text : text.slice(0, end);
  const fields = new Map<string, string>();
  for (const field of block.split(/\r?\n(?![ \t])/)) {
    const colon = field.indexOf(":");
    if (colon <= 0) continue;
    const name = field.slice(0, colon).trim().toLowerCase();
    if (fields.has(name)) continue;
    fields.set(name, decodeWords(field.slice(colon + 1).replace(/\r?\n[ \t]+/g, " ").trim()));
  }
  return fields;
}

/** RFC 2047 encoded words (=?charset?B|Q?text?=), in the charsets TextDecoder knows. */
export function decodeWords(text: string): string {
  return text.replace(
    /=\?([^?]+)\?([BbQq])\?([^?]*)\?=(\s+(?==\?))?/g,
    (all, charset, kind, data) => {
      try {
        const bytes = kind.toUpperCase() === "B"
          ? Uint8Array.from(atob(data), (c) => c.charCodeAt(0))
          : Uint8Array.from(
            data.replace(/_/g, " ").replace(
              /=([0-9A-Fa-f]{2})/g,
              (_: string, h: string) => String.fromCharCode(parseInt(h, 16)),
            ),
            (c: string) => c.charCodeAt(0),
          );
        return new TextDecoder(charset).decode(bytes);
      } catch {
        return all;
      }
    },
  );
}
