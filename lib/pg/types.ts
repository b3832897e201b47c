// Types of the PostgreSQL frontend/backend protocol, version 3.0 (PostgreSQL
// documentation, chapter 55 "Frontend/Backend Protocol", section 55.7
// "Message Formats"), and the bounds our decoders enforce.
//
// Messages are plain objects tagged by `type`, named as in the
// documentation. Byte payloads (Bind parameters, DataRow values, CopyData)
// are views into the decoded buffer: copy them to keep them past the next
// read. Strings are decoded as UTF-8, the only client_encoding we speak.

import type { Bytes } from "../bytes.ts";

/** Protocol 3.0 in the startup packet: major 3 in the high 16 bits, minor 0. */
export const PROTOCOL_3_0 = 196608;
/** The "protocol versions" that mark special startup-phase packets (55.7). */
export const SSL_REQUEST_CODE = 80877103; // 1234 << 16 | 5679
export const GSSENC_REQUEST_CODE = 80877104; // 1234 << 16 | 5680
export const CANCEL_REQUEST_CODE = 80877102; // 1234 << 16 | 5678

/**
 * Bounds on what a peer may announce, checked before anything is allocated.
 * PostgreSQL's own are in src/include/libpq/libpq.h and postmaster.c; ours
 * default to the same except `messageBytesMax`, which is configurable and
 * smaller by default so one client cannot make us buffer a gigabyte.
 */
export interface PgLimits {
  /**
   * Largest Query, Parse, Bind, CopyData (and any backend message a client
   * reads), counting the length word. PostgreSQL allows 1 GiB - 1
   * (PQ_LARGE_MESSAGE_LIMIT = MaxAllocSize); our default is 16 MiB.
   */
  messageBytesMax: number;
  /**
   * Largest of the other frontend messages (Describe, Execute, Close, Sync,
   * ...), which carry a name or nothing: PostgreSQL's PQ_SMALL_MESSAGE_LIMIT, 10000.
   */
  smallMessageBytesMax: number;
  /** Largest password or SASL message: PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH, 65535. */
  authMessageBytesMax: number;
  /** Largest startup packet: PostgreSQL's MAX_STARTUP_PACKET_LENGTH, 10000. */
  startupBytesMax: number;
}

export const PG_MESSAGE_BYTES_MAX_POSTGRES = 0x3fffffff; // 1 GiB - 1, MaxAllocSize

export const DEFAULT_LIMITS: PgLimits = Object.freeze({
  messageBytesMax: 16 * 1024 * 1024,
  smallMessageBytesMax: 10000,
  authMessageBytesMax: 65535,
  startupBytesMax: 10000,
});

/** The first packet of a connection (55.2.1), which has no type byte. */
export type StartupPacket =
  | {
    type: "StartupMessage";
    /** 3 is the only major version we accept; the minor is negotiated down to 0. */
    majorVersion: number;
    minorVersion: number;
    /** user, database, application_name, client_encoding, options, `_pq_.*`, ... */
    parameters: Map<string, string>;
  }
  | { type: "SSLRequest" }
  | { type: "GSSENCRequest" }
  | { type: "CancelRequest"; processId: number; secretKey: number };

/** 'S' a prepared statement, 'P' a portal. */
export type TargetKind = "S" | "P";

/** Format codes: 0 text, 1 binary. */
export type FormatCode = 0 | 1;

/** Messages a frontend (client) sends once started up. */
export type FrontendMessage =
  | { type: "Query"; sql: string }
  | { type: "Parse"; statement: string; sql: string; parameterTypes: number[] }
  | {
    type: "Bind";
    portal: string;
    statement: string;
    /** Empty: all text; one code: applies to all; else one per parameter. */
    parameterFormats: FormatCode[];
    /** null is SQL NULL. Views into the input buffer. */
    parameters: (Bytes | null)[];
    resultFormats: FormatCode[];
  }
  | { type: "Describe"; kind: TargetKind; name: string }
  | { type: "Execute"; portal: string; rowsMax: number }
  | { type: "Close"; kind: TargetKind; name: string }
  | { type: "Sync" }
  | { type: "Flush" }
  | { type: "Terminate" }
  /**
   * 'p': a PasswordMessage, SASLInitialResponse or SASLResponse: which one
   * depends on the authentication request the server sent, so the session
   * reads `data` with parsePasswordMessage / parseSaslInitialResponse. View.
   */
  | { type: "AuthenticationResponse"; data: Bytes }
  | { type: "CopyData"; data: Bytes }
  | { type: "CopyDone" }
  | { type: "CopyFail"; message: string };

/** One column of a RowDescription (55.7). */
export interface FieldDescription {
  name: string;
  /** OID of the table the column comes from, or 0. */
  tableOid: number;
  /** Attribute number of that column, or 0. */
  columnNumber: number;
  typeOid: number;
  /** pg_type.typlen: negative for variable width. */
  typeSize: number;
  /** pg_attribute.atttypmod: -1 when none, e.g. varchar(10) is 14. */
  typeModifier: number;
  format: FormatCode;
}

/**
 * The fields of an ErrorResponse or NoticeResponse (55.8 "Error and Notice
 * Message Fields"), named after libpq's PG_DIAG_* constants.
 */
export interface NoticeFields {
  /** 'S': localized severity (ERROR, FATAL, PANIC, WARNING, NOTICE, ...). */
  severity: string;
  /** 'V': the same, never localized (PostgreSQL 9.6+). */
  severityNonLocalized?: string;
  /** 'C': SQLSTATE. */
  code: string;
  /** 'M' */
  message: string;
  /** 'D' */
  detail?: string;
  /** 'H' */
  hint?: string;
  /** 'P': 1-based character (not byte) position in the query string. */
  position?: number;
  /** 'p' */
  internalPosition?: number;
  /** 'q' */
  internalQuery?: string;
  /** 'W' */
  where?: string;
  /** 's' */
  schema?: string;
  /** 't' */
  table?: string;
  /** 'c' */
  column?: string;
  /** 'd' */
  dataType?: string;
  /** 'n' */
  constraint?: string;
  /** 'F' */
  file?: string;
  /** 'L': a decimal line number, kept as text as on the wire. */
  line?: string;
  /** 'R' */
  routine?: string;
}

/** 'I' idle, 'T' in a transaction block, 'E' in a failed transaction block. */
export type TransactionStatus = "I" | "T" | "E";

/** Messages a backend (server) sends. */
export type BackendMessage =
  | { type: "AuthenticationOk" }
  | { type: "AuthenticationCleartextPassword" }
  | { type: "AuthenticationMD5Password"; salt: Bytes }
  | { type: "AuthenticationSASL"; mechanisms: string[] }
  | { type: "AuthenticationSASLContinue"; data: Bytes }
  | { type: "AuthenticationSASLFinal"; data: Bytes }
  | { type: "ParameterStatus"; name: string; value: string }
  | { type: "BackendKeyData"; processId: number; secretKey: number }
  | { type: "ReadyForQuery"; status: TransactionStatus }
  | { type: "RowDescription"; fields: FieldDescription[] }
  /** null is SQL NULL. Views into the input buffer when decoded. */
  | { type: "DataRow"; values: (Bytes | null)[] }
  | { type: "CommandComplete"; tag: string }
  | { type: "EmptyQueryResponse" }
  | { type: "ErrorResponse"; fields: NoticeFields }
  | { type: "NoticeResponse"; fields: NoticeFields }
  | { type: "ParseComplete" }
  | { type: "BindComplete" }
  | { type: "CloseComplete" }
  | { type: "NoData" }
  | { type: "ParameterDescription"; typeOids: number[] }
  | { type: "PortalSuspended" }
  | { type: "CopyInResponse"; format: FormatCode; columnFormats: FormatCode[] }
  | { type: "CopyOutResponse"; format: FormatCode; columnFormats: FormatCode[] }
  | { type: "CopyData"; data: Bytes }
  | { type: "CopyDone" }
  | { type: "NotificationResponse"; processId: number; channel: string; payload: string }
  | { type: "NegotiateProtocolVersion"; minorVersionSupported: number; unrecognized: string[] };
