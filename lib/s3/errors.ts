// S3's error codes and the one wire-error mapper: every failure an S3
// request can meet becomes S3's XML error document with S3's code and HTTP
// status (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
// Pure: no I/O.

import { HttpError } from "../http/errors.ts";
import { xmlDocument, xmlElement } from "./xml.ts";

/** The codes this server sends, with their HTTP status as S3 sends them. */
export const S3_ERROR_STATUS = {
  AccessDenied: 403,
  BadDigest: 400,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  InvalidPartNumber: 416,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidTag: 400,
  KeyTooLongError: 400,
  MalformedTrailerError: 400,
  MalformedXML: 400,
  MetadataTooLarge: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NotImplemented: 501,
  OperationAborted: 409,
  PreconditionFailed: 412,
  RequestTimeTooSkewed: 403,
  SignatureDoesNotMatch: 403,
  InvalidAccessKeyId: 403,
  AuthorizationQueryParametersError: 400,
  XAmzContentSHA256Mismatch: 400,
} as const;

export type S3ErrorCode = keyof typeof S3_ERROR_STATUS;

/** An S3 error: its code decides the status; `fields` add elements to the XML body. */
export class S3Error extends Error {
  override name = "S3Error";
  readonly code: S3ErrorCode;
  readonly status: number;
  readonly fields: Readonly<Record<string, string>>;
  constructor(code: S3ErrorCode, message: string, fields: Record<string, string> = {}) {
    super(message);
    this.code = code;
    this.status = S3_ERROR_STATUS[code];
    this.fields = fields;
  }
}

/** What goes on the wire for an error. */
export interface S3WireError {
  status: number;
  code: S3ErrorCode;
  message: string;
  fields: Readonly<Record<string, string>>;
  /** Close the connection after answering (the rest of the body is still on the wire). */
  close: boolean;
  /** A bug of ours, to log with its stack; the client sees only InternalError. */
  internal: boolean;
}

/** The one mapper from anything thrown while serving S3 to S3's error. */
export function toS3WireError(error: unknown): S3WireError {
  if (error instanceof S3Error) {
    return {
      status: error.status,
      code: error.code,
      message: error.message,
      fields: error.fields,
      close: false,
      internal: false,
    };
  }
  if (error instanceof HttpError) {
    const code: S3ErrorCode = error.status === 413
      ? "EntityTooLarge"
      : error.status === 408
      ? "IncompleteBody"
      : "InvalidRequest";
    return {
      status: S3_ERROR_STATUS[code],
      code,
      message: error.message,
      fields: {},
      close: true,
      internal: false,
    };
  }
  return {
    status: 500,
    code: "InternalError",
    message: "We encountered an internal error. Please try again.",
    fields: {},
    close: false,
    internal: true,
  };
}

/** S3's error document. */
export function errorXml(
  error: S3WireError,
  context: { resource: string; requestId: string },
): string {
  const extra = Object.entries(error.fields).map(([name, value]) => xmlElement(name, value));
  return xmlDocument(
    "Error",
    [
      xmlElement("Code", error.code),
      xmlElement("Message", error.message),
      ...extra,
      xmlElement("Resource", context.resource),
      xmlElement("RequestId", context.requestId),
    ],
    { namespace: false },
  );
}
