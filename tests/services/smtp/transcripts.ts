// Scripted SMTP conversations, written once and run twice (STYLE.md habit
// 6): against the pure engine with no socket (session_test.ts) and against
// the real server over TCP (server_test.ts).
//
// A step either sends bytes (`c`, exactly as given: several commands in one
// step are pipelined) or expects reply lines (`s`, each a prefix of the next
// line the server writes). The greeting is read before the first step.

import type { SessionConfig } from "../../../services/smtp/session.ts";

export type Step = { c: string } | { s: string[] };

export interface Transcript {
  name: string;
  /** Session settings changed from TEST_CONFIG. */
  config?: Partial<SessionConfig>;
  /** The client is in a trusted network (it may relay). */
  trusted?: boolean;
  steps: Step[];
  /** Messages stored, as "from -> to,to: body". */
  stored?: string[];
}

export const TEST_CONFIG: SessionConfig = {
  hostname: "mx.test",
  localDomains: new Set(["example.test"]),
  mailboxes: new Set(["alice@example.test", "bob@example.test"]),
  sizeBytesMax: 1000,
  recipientsMax: 3,
  errorsMax: 10,
  submission: false,
  tlsAvailable: false,
  authWithoutTls: false,
  users: new Map([["carol", "s3cret"]]),
};

const EHLO_LINES = [
  "250-mx.test greets client.test",
  "250-PIPELINING",
  "250-SIZE 1000",
  "250-8BITMIME",
  "250-ENHANCEDSTATUSCODES",
  "250-SMTPUTF8",
  "250-CHUNKING",
  "250-DSN",
];

export const TRANSCRIPTS: Transcript[] = [
  {
    name: "one message to two local recipients, dot-stuffed",
    steps: [
      { c: "EHLO client.test\r\n" },
      { s: [...EHLO_LINES, "250 HELP"] },
      { c: "MAIL FROM:<sender@far.test> SIZE=40\r\n" },
      { s: ["250 2.1.0"] },
      { c: "RCPT TO:<alice@example.test>\r\n" },
      { s: ["250 2.1.5"] },
      { c: "RCPT TO:<Bob@Example.test> NOTIFY=FAILURE\r\n" },
      { s: ["250 2.1.5"] },
      { c: "DATA\r\n" },
      { s: ["354 "] },
      { c: "Subject: hi\r\n\r\n..dot\r\n.\r\n" },
      { s: ["250 2.0.0 OK: queued as"] },
      { c: "QUIT\r\n" },
      { s: ["221 2.0.0"] },
    ],
    stored: [
      "sender@far.test -> alice@example.test,Bob@Example.test: Subject: hi\r\n\r\n.dot\r\n",
    ],
  },
  {
    name: "pipelined transaction answered in order",
    steps: [
      { c: "EHLO client.test\r\n" },
      { s: [...EHLO_LINES, "250 HELP"] },
      {
        c: "MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\n" +
          "DATA\r\n",
      },
      { s: ["250 2.1.0", "250 2.1.5", "550 5.1.1 <nobody@example.test>", "354 "] },
      { c: "x\r\n.\r\nRSET\r\nNOOP\r\n" },
      { s: ["250 2.0.0 OK", "250 2.0.0 Flushed", "250 2.0.0 OK"] },
    ],
    stored: [" -> alice@example.test: x\r\n"],
  },
  {
    name: "commands out of order get 503",
    steps: [
      { c: "MAIL FROM:<a@far.test>\r\n" },
      { s: ["503 5.5.1 EHLO or HELO first"] },
      { c: "HELO client.test\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n" },
      { s: ["250 mx.test", "503 5.5.1 MAIL first", "503 5.5.1 MAIL first"] },
      { c: "MAIL FROM:<a@far.test>\r\nMAIL FROM:<a@far.test>\r\nDATA\r\n" },
      { s: ["250 2.1.0", "503 5.5.1 Nested", "503 5.5.1 RCPT first"] },
    ],
  },
  {
    name: "no open relay: another domain refused without authentication",
    steps: [
      { c: "EHLO client.test\r\n" },
      { s: [...EHLO_LINES, "250 HELP"] },
      { c: "MAIL FROM:<a@far.test>\r\nRCPT TO:<victim@elsewhere.test>\r\n" },
      { s: ["250 2.1.0", "554 5.7.1 <victim@elsewhere.test>: Relay access denied"] },
    ],
  },
  {
    name: "a trusted network may relay",
    trusted: true,
    steps: [
      { c: "HELO client.test\r\nMAIL FROM:<a@far.test>\r\nRCPT TO:<b@elsewhere.test>\r\n" },
      { s: ["250 ", "250 2.1.0", "250 2.1.5"] },
    ],
  },
  {
    name: "SIZE too large at MAIL, and while the data arrives",
    steps: [
      { c: "EHLO client.test\r\n" },
      { s: [...EHLO_LINES, "250 HELP"] },
      { c: "MAIL FROM:<a@far.test> SIZE=1001\r\n" },
      { s: ["552 5.3.4"] },
      { c: "MAIL FROM:<a@far.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n" },
      { s: ["250 2.1.0", "250 2.1.5", "354 "] },
      { c: "x".repeat(1200) + "\r\n.\r\nNOOP\r\n" },
      { s: ["552 5.3.4", "250 2.0.0"] },
    ],
  },
  {
    name: "too many recipients get 452",
    steps: [
      { c: "HELO c\r\nMAIL FROM:<a@far.test>\r\n" },
      { s: ["250 ", "250 2.1.0"] },
      {
        c: "RCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n" +
          "RCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n",
      },
      { s: ["250 2.1.5", "250 2.1.5", "250 2.1.5", "452 4.5.3"] },
    ],
  },
  {
    name: "bare LF in the data never ends it (smuggling) and the message is refused",
    steps: [
      { c: "HELO c\r\nMAIL FROM:<a@far.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n" },
      { s: ["250 ", "250 2.1.0", "250 2.1.5", "354 "] },
      {
        c: "Subject: one\r\n\r\nx\n.\nMAIL FROM:<admin@example.test>\r\n" +
          "RCPT TO:<bob@example.test>\r\nDATA\r\nforged\r\n.\r\n",
      },
      { s: ["550 5.6.0"] },
      { c: "NOOP\r\n" },
      { s: ["250 2.0.0"] },
    ],
  },
  {
    name: "BDAT chunks, then BDAT LAST",
    steps: [
      { c: "EHLO client.test\r\n" },
      { s: [...EHLO_LINES, "250 HELP"] },
      { c: "MAIL FROM:<a@far.test>\r\nRCPT TO:<bob@example.test>\r\nBDAT 6\r\nab\r\n.\n" },
      { s: ["250 2.1.0", "250 2.1.5", "250 2.0.0 6 octets"] },
      { c: "BDAT 3 LAST\r\nend" },
      { s: ["250 2.0.0 OK"] },
      { c: "BDAT 2 LAST\r\nzz" },
      { s: ["503 5.5.1"] },
    ],
    stored: ["a@far.test -> bob@example.test: ab\r\n.\nend"],
  },
  {
    name: "VRFY, HELP, unknown commands and syntax errors",
    steps: [
      { c: "VRFY alice\r\nHELP\r\nXYZZY\r\nRCPT\r\nRSET extra\r\n" },
      { s: ["252 2.5.2", "214-2.0.0", "214 2.0.0", "500 5.5.2", "501 5.5.4", "501 5.5.4"] },
    ],
  },
  {
    name: "too many errors close the session with 421",
    config: { errorsMax: 3 },
    steps: [
      { c: "XA\r\nXB\r\nXC\r\nNOOP\r\n" },
      { s: ["500 ", "500 ", "500 ", "421 4.7.0"] },
    ],
  },
  {
    name: "a bare LF in a command line closes the session",
    steps: [
      { c: "NOOP\n" },
      { s: ["500 5.5.2"] },
    ],
  },
  {
    name: "submission: AUTH refused without TLS unless allowed",
    config: { submission: true },
    steps: [
      {
        c: "EHLO client.test\r\nAUTH PLAIN AGNhcm9sAHMzY3JldA==\r\nMAIL FROM:<carol@example.test>\r\n",
      },
      { s: [...EHLO_LINES, "250 HELP", "538 5.7.11", "530 5.7.0"] },
    ],
  },
  {
    name: "submission: AUTH PLAIN then relay to another domain",
    config: { submission: true, authWithoutTls: true },
    steps: [
      { c: "EHLO client.test\r\n" },
      { s: [...EHLO_LINES, "250-AUTH PLAIN LOGIN", "250 HELP"] },
      { c: "AUTH PLAIN AGNhcm9sAHdyb25n\r\n" },
      { s: ["535 5.7.8"] },
      { c: "AUTH PLAIN\r\n" },
      { s: ["334 "] },
      { c: "AGNhcm9sAHMzY3JldA==\r\n" },
      { s: ["235 2.7.0"] },
      { c: "MAIL FROM:<carol@example.test>\r\nRCPT TO:<dan@elsewhere.test>\r\nDATA\r\n" },
      { s: ["250 2.1.0", "250 2.1.5", "354 "] },
      { c: "hello\r\n.\r\n" },
      { s: ["250 2.0.0"] },
    ],
    stored: ["carol@example.test -> dan@elsewhere.test: hello\r\n"],
  },
  {
    name: "submission: AUTH LOGIN",
    config: { submission: true, authWithoutTls: true },
    steps: [
      { c: "EHLO client.test\r\nAUTH LOGIN\r\n" },
      { s: [...EHLO_LINES, "250-AUTH PLAIN LOGIN", "250 HELP", "334 VXNlcm5hbWU6"] },
      { c: "Y2Fyb2w=\r\n" },
      { s: ["334 UGFzc3dvcmQ6"] },
      { c: "czNjcmV0\r\n" },
      { s: ["235 2.7.0"] },
    ],
  },
];
