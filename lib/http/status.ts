// HTTP status codes and their reason phrases (RFC 9110 section 15).
//
// Only the codes this stack sends or reports are named; any other code in
// 100-599 is still valid and gets an empty reason phrase (RFC 9112 section
// 4 lets the reason be empty; clients must ignore it).

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** The reason phrase for `status`, or "" for codes without a name here. */
export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? "";
}

/**
 * True when a response with this status never has a body (RFC 9110 sections
 * 15.2, 15.3.5 and 15.4.5: 1xx, 204 and 304).
 */
export function statusHasNoBody(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}
