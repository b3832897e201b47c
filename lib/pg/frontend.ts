// Frontend messages (client to server) of protocol 3.0: decoded by a server,
// encoded by a client (PostgreSQL documentation 55.7 "Message Formats").
//
// Both decoders follow lib/decode.ts: a message and the bytes it used, or
// Incomplete with the bytes still needed once the length word is in, or a
// DecodeError / LimitError. The length word is checked against PgLimits
// before the body is waited for, so a peer announcing 1 GiB is refused at
// once. Byte payloads are views into the input; strings are copies.
//
// Left out: FunctionCall ('F', superseded by SQL function calls) and the
// replication sub-protocol; protocol 2.0 startup packets are refused as
// PostgreSQL 14+ refuses them.

import type { Bytes } from "../bytes.ts";
import { type Decoded, needMore } from "../decode.ts";
import { DecodeError, LimitError } from "../errors.ts";
import { PgProtocolError } from "./errors.ts";
import {
  CANCEL_REQUEST_CODE,
  type FormatCode,
  type FrontendMessage,
  GSSENC_REQUEST_CODE,
  type PgLimits,
  SSL_REQUEST_CODE,
  type StartupPacket,
  type TargetKind,
} from "./types.ts";
import { MessageReader, MessageWriter } from "./wire.ts";

function u32(buf: Bytes, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

/**
 * Decodes the first packet of a connection: a StartupMessage, or an
 * SSLRequest, GSSENCRequest or CancelRequest (each of which may come first;
 * after an SSL/GSS answer of 'N' the real StartupMessage follows).
 */
export function decodeStartupPacket(
  buf: Bytes,
  limits: PgLimits,
  from = 0,
  to: number = buf.length,
): Decoded<StartupPacket> {
  if (to - from < 4) return needMore(4 - (to - from));
  const length = u32(buf, from);
  // 8 bytes at least: the length and the code (PostgreSQL's ProcessStartupPacket).
  if (length < 8) throw new PgProtocolError("invalid length of startup packet");
  if (length > limits.startupBytesMax) {
    throw new LimitError("startupBytesMax", "invalid length of startup packet");
  }
  if (to - from < length) return needMore(length - (to - from));
  const reader = new MessageReader(buf, from + 4, from + length);
  const code = reader.uint32();
  let packet: StartupPacket;
  if (code === SSL_REQUEST_CODE) packet = { type: "SSLRequest" };
  else if (code === GSSENC_REQUEST_CODE) packet = { type: "GSSENCRequest" };
  else if (code === CANCEL_REQUEST_CODE) {
    packet = { type: "CancelRequest", processId: reader.int32(), secretKey: reader.int32() };
  } else {
    const majorVersion = code >>> 16;
    const minorVersion = code & 0xffff;
    if (majorVersion !== 3) {
      throw new PgProtocolError(
        `unsupported frontend protocol ${majorVersion}.${minorVersion}: ` +
          "server supports 3.0 to 3.0",
        "0A000",
      );
    }
    const parameters = new Map<string, string>();
    while (true) {
      const name = reader.cstring();
      if (name === "") break;
      parameters.set(name, reader.cstring());
    }
    packet = { type: "StartupMessage", majorVersion, minorVersion, parameters };
  }
  reader.finish();
  return { value: packet, bytesUsed: length };
}

/** Which bound applies to a message type: big payloads, auth tokens, or small ones. */
function frontendLimit(
  type: number,
): "messageBytesMax" | "authMessageBytesMax" | "smallMessageBytesMax" {
  switch (type) {
    case 0x51: // Q
    case 0x50: // P
    case 0x42: // B
    case 0x64: // d
      return "messageBytesMax";
    case 0x70: // p
      return "authMessageBytesMax";
    default:
      return "smallMessageBytesMax";
  }
}

function formatCode(value: number): FormatCode {
  if (value !== 0 && value !== 1) {
    throw new PgProtocolError(`unsupported format code: ${value}`, "22023");
  }
  return value;
}

function formats(reader: MessageReader): FormatCode[] {
  const count = reader.int16();
  if (count < 0) throw new DecodeError("invalid message format");
  const out: FormatCode[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = formatCode(reader.int16());
  return out;
}

function targetKind(reader: MessageReader, what: string): TargetKind {
  const kind = reader.int8();
  if (kind === 0x53) return "S";
  if (kind === 0x50) return "P";
  throw new PgProtocolError(`invalid ${what} message subtype ${kind}`);
}

/** Decodes one typed frontend message (everything after the startup packet). */
export function decodeFrontendMessage(
  buf: Bytes,
  limits: PgLimits,
  from = 0,
  to: number = buf.length,
): Decoded<FrontendMessage> {
  const available = to - from;
  if (available < 5) return needMore(5 - available);
  const type = buf[from];
  const length = u32(buf, from + 1);
  if (length < 4) throw new PgProtocolError("invalid message length");
  const limit = frontendLimit(type);
  if (length > limits[limit]) throw new LimitError(limit, "invalid message length");
  const total = 1 + length;
  if (available < total) return needMore(total - available);
  const r = new MessageReader(buf, from + 5, from + total);
  let message: FrontendMessage;
  switch (type) {
    case 0x51: // 'Q'
      message = { type: "Query", sql: r.cstring() };
      break;
    case 0x50: { // 'P'
      const statement = r.cstring();
      const sql = r.cstring();
      const count = r.int16();
      if (count < 0) throw new DecodeError("invalid message format");
      const parameterTypes: number[] = new Array(count);
      for (let i = 0; i < count; i++) parameterTypes[i] = r.uint32();
      message = { type: "Parse", statement, sql, parameterTypes };
      break;
    }
    case 0x42: { // 'B'
      const portal = r.cstring();
      const statement = r.cstring();
      const parameterFormats = formats(r);
      const count = r.int16();
      if (count < 0) throw new DecodeError("invalid message format");
      if (parameterFormats.length > 1 && parameterFormats.length !== count) {
        throw new PgProtocolError(
          `bind message has ${parameterFormats.length} parameter formats but ${count} parameters`,
        );
      }
      const parameters: (Bytes | null)[] = new Array(count);
      for (let i = 0; i < count; i++) {
        const size = r.int32();
        // Each length is checked by r.bytes against what the message holds.
        parameters[i] = size === -1 ? null : r.bytes(size);
      }
      message = {
        type: "Bind",
        portal,
        statement,
        parameterFormats,
        parameters,
        resultFormats: formats(r),
      };
      break;
    }
    case 0x44: { // 'D'
      const kind = targetKind(r, "DESCRIBE");
      message = { type: "Describe", kind, name: r.cstring() };
      break;
    }
    case 0x45: { // 'E'
      const portal = r.cstring();
      message = { type: "Execute", portal, rowsMax: r.int32() };
      break;
    }
    case 0x43: { // 'C'
      const kind = targetKind(r, "CLOSE");
      message = { type: "Close", kind, name: r.cstring() };
      break;
    }
    case 0x53: // 'S'
      message = { type: "Sync" };
      break;
    case 0x48: // 'H'
      message = { type: "Flush" };
      break;
    case 0x58: // 'X'
      message = { type: "Terminate" };
      break;
    case 0x70: // 'p'
      message = { type: "AuthenticationResponse", data: r.rest() };
      break;
    case 0x64: // 'd'
      message = { type: "CopyData", data: r.rest() };
      break;
    case 0x63: // 'c'
      message = { type: "CopyDone" };
      break;
    case 0x66: // 'f'
      message = { type: "CopyFail", message: r.cstring() };
      break;
    default:
      throw new PgProtocolError(`invalid frontend message type ${type}`);
  }
  r.finish();
  return { value: message, bytesUsed: total };
}

/** A PasswordMessage body: the password (or MD5 hash) as a String. */
export function parsePasswordMessage(data: Bytes): string {
  const r = new MessageReader(data, 0, data.length);
  const password = r.cstring();
  r.finish();
  return password;
}

/** A SASLInitialResponse body: the mechanism and the client-first-message, or null if absent (-1). */
export function parseSaslInitialResponse(
  data: Bytes,
): { mechanism: string; initialResponse: Bytes | null } {
  const r = new MessageReader(data, 0, data.length);
  const mechanism = r.cstring();
  const length = r.int32();
  const initialResponse = length === -1 ? null : r.bytes(length);
  r.finish();
  return { mechanism, initialResponse };
}

/** Encodes the first packet of a connection (client side). */
export function encodeStartupPacket(packet: StartupPacket): Bytes {
  const w = new MessageWriter().begin(null);
  switch (packet.type) {
    case "SSLRequest":
      w.int32(SSL_REQUEST_CODE);
      break;
    case "GSSENCRequest":
      w.int32(GSSENC_REQUEST_CODE);
      break;
    case "CancelRequest":
      w.int32(CANCEL_REQUEST_CODE).int32(packet.processId).int32(packet.secretKey);
      break;
    case "StartupMessage":
      w.int32((packet.majorVersion << 16) | packet.minorVersion);
      for (const [name, value] of packet.parameters) w.cstring(name).cstring(value);
      w.int8(0);
      break;
  }
  return w.end().finish();
}

/** Appends one frontend message to `w` (client side). */
export function writeFrontendMessage(w: MessageWriter, message: FrontendMessage): void {
  switch (message.type) {
    case "Query":
      w.begin("Q").cstring(message.sql);
      break;
    case "Parse":
      w.begin("P").cstring(message.statement).cstring(message.sql);
      w.int16(message.parameterTypes.length);
      for (const oid of message.parameterTypes) w.int32(oid);
      break;
    case "Bind":
      w.begin("B").cstring(message.portal).cstring(message.statement);
      w.int16(message.parameterFormats.length);
      for (const format of message.parameterFormats) w.int16(format);
      w.int16(message.parameters.length);
      for (const value of message.parameters) {
        if (value === null) w.int32(-1);
        else w.int32(value.length).bytes(value);
      }
      w.int16(message.resultFormats.length);
      for (const format of message.resultFormats) w.int16(format);
      break;
    case "Describe":
      w.begin("D").int8(message.kind.charCodeAt(0)).cstring(message.name);
      break;
    case "Execute":
      w.begin("E").cstring(message.portal).int32(message.rowsMax);
      break;
    case "Close":
      w.begin("C").int8(message.kind.charCodeAt(0)).cstring(message.name);
      break;
    case "Sync":
      w.begin("S");
      break;
    case "Flush":
      w.begin("H");
      break;
    case "Terminate":
      w.begin("X");
      break;
    case "AuthenticationResponse":
      w.begin("p").bytes(message.data);
      break;
    case "CopyData":
      w.begin("d").bytes(message.data);
      break;
    case "CopyDone":
      w.begin("c");
      break;
    case "CopyFail":
      w.begin("f").cstring(message.message);
      break;
  }
  w.end();
}

/** Encodes one frontend message (client side). */
export function encodeFrontendMessage(message: FrontendMessage): Bytes {
  const w = new MessageWriter();
  writeFrontendMessage(w, message);
  return w.finish();
}

/** The body of a PasswordMessage carrying `password`. */
export function passwordMessageData(password: string): Bytes {
  return new MessageWriter().cstring(password).finish();
}

/** The body of a SASLInitialResponse. */
export function saslInitialResponseData(mechanism: string, initialResponse: Bytes | null): Bytes {
  const w = new MessageWriter().cstring(mechanism);
  if (initialResponse === null) w.int32(-1);
  else w.int32(initialResponse.length).bytes(initialResponse);
  return w.finish();
}
