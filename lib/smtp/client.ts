// An SMTP client (RFC 5321 section 3 and 4, as a sender): what the smtp
// service's outbound delivery and the tests use. One connection, one
// command at a time, every reply read under a deadline (RFC 5321 4.5.3.2's
// client timeouts, shortened to `timeoutMs`).
//
//   const client = await SmtpClient.connect({ hostname, port, helo: "mx.test" });
//   await client.startTls({ caCerts });           // when client.extensions has STARTTLS
//   const result = await client.send("a@x.test", ["b@y.test"], [body]);
//   await client.quit();
//
// EHLO first, HELO when EHLO is refused; STARTTLS on request (then EHLO
// again, as RFC 3207 4.2 requires); the body dot-stuffed by DotEncoder.
// Left out: PIPELINING on the sending side, AUTH, BDAT.

import { utf8 } from "../bytes.ts";
import type { Bytes } from "../bytes.ts";
import { isIncomplete } from "../decode.ts";
import { closeQuietly } from "../net/close.ts";
import { ReadBuffer } from "../net/read_buffer.ts";
import { writeAll } from "../net/write_all.ts";
import { DotEncoder } from "./data.ts";
import { decodeReply, DEFAULT_REPLY_LIMITS, type Reply } from "./reply.ts";

export interface ClientOptions {
  hostname: string;
  port: number;
  /** Our name for EHLO/HELO. */
  helo: string;
  /** Per reply (default 60 s). */
  timeoutMs?: number;
}

/** What happened to one message. */
export interface SendResult {
  /** The reply to each RCPT. */
  recipients: Map<string, Reply>;
  /** The reply to MAIL, when it failed (no recipient was tried). */
  mail?: Reply;
  /** The final reply after the data, when any recipient was accepted. */
  data?: Reply;
}

/** ESMTP parameters to add (each with its leading space), e.g. DSN's (RFC 3461). */
export interface SendOptions {
  /** After MAIL FROM:<...> (and BODY=8BITMIME when offered). */
  mailParams?: string;
  /** After each RCPT TO:<...>. */
  rcptParams?: (to: string) => string;
}

export class SmtpClientError extends Error {
  override name = "SmtpClientError";
}

export class SmtpClient {
  #conn: Deno.Conn;
  #input = new ReadBuffer({ sizeBytesMax: 64 * 1024 });
  #timeoutMs: number;
  #options: ClientOptions;
  /** EHLO keywords (upper-cased) and their parameters. */
  extensions = new Map<string, string>();
  greeting: Reply | undefined;

  private constructor(conn: Deno.Conn, options: ClientOptions) {
    this.#conn = conn;
    this.#options = options;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Connects, reads the greeting and says EHLO (or HELO). Throws on a refusal. */
  static async connect(options: ClientOptions): Promise<SmtpClient> {
    const conn = await Deno.connect({ hostname: options.hostname, port: options.port });
    const client = new SmtpClient(conn, options);
    try {
      client.greeting = await client.#reply();
      if (client.greeting.code !== 220) {
        throw new SmtpClientError(`greeting: ${client.greeting.code} ${client.greeting.lines[0]}`);
      }
      await client.#hello();
      return client;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  /** STARTTLS and EHLO again (RFC 3207). */
  async startTls(options: { caCerts?: string[]; hostname?: string } = {}): Promise<void> {
    const reply = await this.command("STARTTLS");
    if (reply.code !== 220) throw new SmtpClientError(`STARTTLS refused: ${reply.code}`);
    this.#conn = await Deno.startTls(this.#conn as Deno.TcpConn, {
      hostname: options.hostname ?? this.#options.hostname,
      caCerts: options.caCerts,
    });
    this.#input = new ReadBuffer({ sizeBytesMax: 64 * 1024 });
    await this.#hello();
  }

  /** Sends one command line and reads its reply. */
  async command(line: string): Promise<Reply> {
    await writeAll(this.#conn, utf8(`${line}\r\n`));
    return await this.#reply();
  }

  /** One message: MAIL, RCPT for each recipient, DATA and the body when any was accepted. */
  async send(
    from: string,
    recipients: readonly string[],
    body: Iterable<Uint8Array>,
    options: SendOptions = {},
  ): Promise<SendResult> {
    const result: SendResult = { recipients: new Map() };
    const mailParams = (this.extensions.has("8BITMIME") ? " BODY=8BITMIME" : "") +
      (options.mailParams ?? "");
    const mail = await this.command(`MAIL FROM:<${from}>${mailParams}`);
    if (mail.code !== 250) {
      result.mail = mail;
      return result;
    }
    for (const to of recipients) {
      const params = options.rcptParams?.(to) ?? "";
      result.recipients.set(to, await this.command(`RCPT TO:<${to}>${params}`));
    }
    if (![...result.recipients.values()].some((r) => r.code === 250 || r.code === 251)) {
      await this.command("RSET");
      return result;
    }
    const data = await this.command("DATA");
    if (data.code !== 354) {
      result.data = data;
      return result;
    }
    const encoder = new DotEncoder();
    for (const piece of body) await writeAll(this.#conn, encoder.push(piece));
    await writeAll(this.#conn, encoder.end());
    result.data = await this.#reply();
    return result;
  }

  /** QUIT, then close (errors ignored: the message is already sent). */
  async quit(): Promise<void> {
    try {
      await this.command("QUIT");
    } catch { /* closing anyway */ }
    this.close();
  }

  close(): void {
    closeQuietly(this.#conn);
  }

  async #hello(): Promise<void> {
    let reply = await this.command(`EHLO ${this.#options.helo}`);
    this.extensions = new Map();
    if (reply.code !== 250) {
      reply = await this.command(`HELO ${this.#options.helo}`);
      if (reply.code !== 250) throw new SmtpClientError(`HELO refused: ${reply.code}`);
      return;
    }
    for (const line of reply.lines.slice(1)) {
      const [keyword, ...rest] = line.split(" ");
      this.extensions.set(keyword.toUpperCase(), rest.join(" "));
    }
  }

  async #reply(): Promise<Reply> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        closeQuietly(this.#conn);
        reject(new SmtpClientError(`no reply within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
    });
    try {
      while (true) {
        const decoded = decodeReply(
          this.#input.bytes as Bytes,
          DEFAULT_REPLY_LIMITS,
          this.#input.start,
          this.#input.end,
        );
        if (!isIncomplete(decoded)) {
          this.#input.consume(decoded.bytesUsed);
          return decoded.value;
        }
        const n = await Promise.race([this.#input.fill(this.#conn), timedOut]);
        if (n === null) throw new SmtpClientError("the server closed the connection");
      }
    } finally {
      clearTimeout(timer);
    }
  }
}
