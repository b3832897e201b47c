// Backend messages (server to client) of protocol 3.0: encoded by a server,
// decoded by a client (PostgreSQL documentation 55.7 "Message Formats",
// 55.8 "Error and Notice Message Fields").
//
// A server writes many messages per round trip (RowDescription, DataRows,
// CommandComplete, ReadyForQuery) and should send them in one write, so the
// encoder appends to a MessageWriter; encodeBackendMessage is the one-off
// form. The decoder follows lib/decode.ts; its byte payloads are views.
//
// Left out: AuthenticationKerberosV5/GSS/SSPI and CopyBothResponse
// (replication), which a client decodes as a DecodeError.

import type { Bytes } from "../bytes.ts";
import { type Decoded, needMore } from "../decode.ts";
import { DecodeError, LimitError } from "../errors.ts";
import type {
  BackendMessage,
  FieldDescription,
  FormatCode,
  NoticeFields,
  PgLimits,
  TransactionStatus,
} from "./types.ts";
import { MessageReader, MessageWriter } from "./wire.ts";

/**
 * Field codes in the order PostgreSQL's elog.c send_message_to_frontend
 * writes them, so our ErrorResponses match the real server byte for byte.
 */
const NOTICE_FIELDS: ReadonlyArray<readonly [string, keyof NoticeFields]> = [
  ["S", "severity"],
  ["V", "severityNonLocalized"],
  ["C", "code"],
  ["M", "message"],
  ["D", "detail"],
  ["H", "hint"],
  ["P", "position"],
  ["p", "internalPosition"],
  ["q", "internalQuery"],
  ["W", "where"],
  ["s", "schema"],
  ["t", "table"],
  ["c", "column"],
  ["d", "dataType"],
  ["n", "constraint"],
  ["F", "file"],
  ["L", "line"],
  ["R", "routine"],
];
const NOTICE_FIELD_BY_CODE = new Map(NOTICE_FIELDS.map(([code, key]) => [code.charCodeAt(0), key]));

function writeNoticeFields(w: MessageWriter, fields: NoticeFields): void {
  for (const [code, key] of NOTICE_FIELDS) {
    const value = fields[key];
    if (value !== undefined) w.int8(code.charCodeAt(0)).cstring(String(value));
  }
  w.int8(0);
}

function writeCopyResponse(
  w: MessageWriter,
  type: string,
  format: FormatCode,
  columnFormats: FormatCode[],
): void {
  w.begin(type).int8(format).int16(columnFormats.length);
  for (const code of columnFormats) w.int16(code);
}

/** Appends one backend message to `w`. */
export function writeBackendMessage(w: MessageWriter, message: BackendMessage): void {
  switch (message.type) {
    case "AuthenticationOk":
      w.begin("R").int32(0);
      break;
    case "AuthenticationCleartextPassword":
      w.begin("R").int32(3);
      break;
    case "AuthenticationMD5Password":
      w.begin("R").int32(5).bytes(message.salt);
      break;
    case "AuthenticationSASL":
      w.begin("R").int32(10);
      for (const mechanism of message.mechanisms) w.cstring(mechanism);
      w.int8(0);
      break;
    case "AuthenticationSASLContinue":
      w.begin("R").int32(11).bytes(message.data);
      break;
    case "AuthenticationSASLFinal":
      w.begin("R").int32(12).bytes(message.data);
      break;
    case "ParameterStatus":
      w.begin("S").cstring(message.name).cstring(message.value);
      break;
    case "BackendKeyData":
      w.begin("K").int32(message.processId).int32(message.secretKey);
      break;
    case "ReadyForQuery":
      w.begin("Z").int8(message.status.charCodeAt(0));
      break;
    case "RowDescription":
      w.begin("T").int16(message.fields.length);
      for (const field of message.fields) {
        w.cstring(field.name).int32(field.tableOid).int16(field.columnNumber);
        w.int32(field.typeOid).int16(field.typeSize).int32(field.typeModifier).int16(field.format);
      }
      break;
    case "DataRow":
      w.begin("D").int16(message.values.length);
      for (const value of message.values) w.sizedBytes(value);
      break;
    case "CommandComplete":
      w.begin("C").cstring(message.tag);
      break;
    case "EmptyQueryResponse":
      w.begin("I");
      break;
    case "ErrorResponse":
      w.begin("E");
      writeNoticeFields(w, message.fields);
      break;
    case "NoticeResponse":
      w.begin("N");
      writeNoticeFields(w, message.fields);
      break;
    case "ParseComplete":
      w.begin("1");
      break;
    case "BindComplete":
      w.begin("2");
      break;
    case "CloseComplete":
      w.begin("3");
      break;
    case "NoData":
      w.begin("n");
      break;
    case "ParameterDescription":
      w.begin("t").int16(message.typeOids.length);
      for (const oid of message.typeOids) w.int32(oid);
      break;
    case "PortalSuspended":
      w.begin("s");
      break;
    case "CopyInResponse":
      writeCopyResponse(w, "G", message.format, message.columnFormats);
      break;
    case "CopyOutResponse":
      writeCopyResponse(w, "H", message.format, message.columnFormats);
      break;
    case "CopyData":
      w.begin("d").bytes(message.data);
      break;
    case "CopyDone":
      w.begin("c");
      break;
    case "NotificationResponse":
      w.begin("A").int32(message.processId).cstring(message.channel).cstring(message.payload);
      break;
    case "NegotiateProtocolVersion":
      w.begin("v").int32(message.minorVersionSupported).int32(message.unrecognized.length);
      for (const name of message.unrecognized) w.cstring(name);
      break;
  }
  w.end();
}

/** Writes one non-NULL value of a DataRow: `w.sizedText(...)` or `w.sizedBytes(...)`. */
export type FieldWriter<V> = (w: MessageWriter, value: V) => void;

/**
 * Appends a DataRow straight from a server's row, each value written by its
 * column's writer (NULL as -1): the same bytes as a DataRow message, without
 * building the message, its array of values and a buffer per value first.
 */
export function writeDataRow<V>(
  w: MessageWriter,
  values: readonly (V | null)[],
  fields: readonly FieldWriter<V>[],
): void {
  w.begin("D").int16(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null) w.int32(-1);
    else fields[i](w, value);
  }
  w.end();
}

/** Encodes one backend message. */
export function encodeBackendMessage(message: BackendMessage): Bytes {
  const w = new MessageWriter();
  writeBackendMessage(w, message);
  return w.finish();
}

function readNoticeFields(r: MessageReader): NoticeFields {
  const fields: Record<string, string | number> = {};
  while (true) {
    const code = r.int8();
    if (code === 0) break;
    const value = r.cstring();
    const key = NOTICE_FIELD_BY_CODE.get(code);
    // Unknown field codes are skipped, as 55.8 tells frontends to do.
    if (key === undefined) continue;
    fields[key] = key === "position" || key === "internalPosition" ? Number(value) : value;
  }
  if (fields.severity === undefined || fields.code === undefined || fields.message === undefined) {
    throw new DecodeError("error or notice message lacks severity, code or message");
  }
  return fields as unknown as NoticeFields;
}

function readFormat(r: MessageReader): FormatCode {
  const code = r.int16();
  if (code !== 0 && code !== 1) throw new DecodeError(`unsupported format code: ${code}`);
  return code;
}

function readCopyResponse(r: MessageReader): { format: FormatCode; columnFormats: FormatCode[] } {
  const format = r.int8();
  if (format !== 0 && format !== 1) throw new DecodeError(`unsupported format code: ${format}`);
  const count = r.int16();
  const columnFormats: FormatCode[] = [];
  for (let i = 0; i < count; i++) columnFormats.push(readFormat(r));
  return { format, columnFormats };
}

function readAuthentication(r: MessageReader): BackendMessage {
  const kind = r.int32();
  switch (kind) {
    case 0:
      return { type: "AuthenticationOk" };
    case 3:
      return { type: "AuthenticationCleartextPassword" };
    case 5:
      return { type: "AuthenticationMD5Password", salt: r.bytes(4) };
    case 10: {
      const mechanisms: string[] = [];
      while (true) {
        const name = r.cstring();
        if (name === "") break;
        mechanisms.push(name);
      }
      return { type: "AuthenticationSASL", mechanisms };
    }
    case 11:
      return { type: "AuthenticationSASLContinue", data: r.rest() };
    case 12:
      return { type: "AuthenticationSASLFinal", data: r.rest() };
    default:
      throw new DecodeError(`unsupported authentication request ${kind}`);
  }
}

function transactionStatus(code: number): TransactionStatus {
  if (code === 0x49) return "I";
  if (code === 0x54) return "T";
  if (code === 0x45) return "E";
  throw new DecodeError(`invalid transaction status ${code}`);
}

/** Decodes one backend message (client side). */
export function decodeBackendMessage(
  buf: Bytes,
  limits: PgLimits,
  from = 0,
  to: number = buf.length,
): Decoded<BackendMessage> {
  const available = to - from;
  if (available < 5) return needMore(5 - available);
  const type = buf[from];
  const length = ((buf[from + 1] << 24) | (buf[from + 2] << 16) | (buf[from + 3] << 8) |
    buf[from + 4]) >>> 0;
  if (length < 4) throw new DecodeError("invalid message length");
  if (length > limits.messageBytesMax) {
    throw new LimitError("messageBytesMax", "invalid message length");
  }
  const total = 1 + length;
  if (available < total) return needMore(total - available);
  const r = new MessageReader(buf, from + 5, from + total);
  let message: BackendMessage;
  switch (type) {
    case 0x52: // 'R'
      message = readAuthentication(r);
      break;
    case 0x53: // 'S'
      message = { type: "ParameterStatus", name: r.cstring(), value: r.cstring() };
      break;
    case 0x4b: // 'K'
      message = { type: "BackendKeyData", processId: r.int32(), secretKey: r.int32() };
      break;
    case 0x5a: // 'Z'
      message = { type: "ReadyForQuery", status: transactionStatus(r.int8()) };
      break;
    case 0x54: { // 'T'
      const count = r.int16();
      const fields: FieldDescription[] = [];
      for (let i = 0; i < count; i++) {
        fields.push({
          name: r.cstring(),
          tableOid: r.uint32(),
          columnNumber: r.int16(),
          typeOid: r.uint32(),
          typeSize: r.int16(),
          typeModifier: r.int32(),
          format: readFormat(r),
        });
      }
      message = { type: "RowDescription", fields };
      break;
    }
    case 0x44: { // 'D'
      const count = r.int16();
      const values: (Bytes | null)[] = [];
      for (let i = 0; i < count; i++) {
        const size = r.int32();
        values.push(size === -1 ? null : r.bytes(size));
      }
      message = { type: "DataRow", values };
      break;
    }
    case 0x43: // 'C'
      message = { type: "CommandComplete", tag: r.cstring() };
      break;
    case 0x49: // 'I'
      message = { type: "EmptyQueryResponse" };
      break;
    case 0x45: // 'E'
      message = { type: "ErrorResponse", fields: readNoticeFields(r) };
      break;
    case 0x4e: // 'N'
      message = { type: "NoticeResponse", fields: readNoticeFields(r) };
      break;
    case 0x31: // '1'
      message = { type: "ParseComplete" };
      break;
    case 0x32: // '2'
      message = { type: "BindComplete" };
      break;
    case 0x33: // '3'
      message = { type: "CloseComplete" };
      break;
    case 0x6e: // 'n'
      message = { type: "NoData" };
      break;
    case 0x74: { // 't'
      const count = r.int16();
      const typeOids: number[] = [];
      for (let i = 0; i < count; i++) typeOids.push(r.uint32());
      message = { type: "ParameterDescription", typeOids };
      break;
    }
    case 0x73: // 's'
      message = { type: "PortalSuspended" };
      break;
    case 0x47: // 'G'
      message = { type: "CopyInResponse", ...readCopyResponse(r) };
      break;
    case 0x48: // 'H'
      message = { type: "CopyOutResponse", ...readCopyResponse(r) };
      break;
    case 0x64: // 'd'
      message = { type: "CopyData", data: r.rest() };
      break;
    case 0x63: // 'c'
      message = { type: "CopyDone" };
      break;
    case 0x41: // 'A'
      message = {
        type: "NotificationResponse",
        processId: r.int32(),
        channel: r.cstring(),
        payload: r.cstring(),
      };
      break;
    case 0x76: { // 'v'
      const minorVersionSupported = r.int32();
      const count = r.int32();
      const unrecognized: string[] = [];
      for (let i = 0; i < count; i++) unrecognized.push(r.cstring());
      message = { type: "NegotiateProtocolVersion", minorVersionSupported, unrecognized };
      break;
    }
    default:
      throw new DecodeError(`unexpected message type 0x${type.toString(16)}`);
  }
  r.finish();
  return { value: message, bytesUsed: total };
}
