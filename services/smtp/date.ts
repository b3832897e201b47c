// The date format of mail headers (RFC 5322 section 3.3), for the Received
// header (store.ts) and delivery reports (dsn.ts). Always UTC.

/** "Wed, 02 Dec 2026 05:00:00 +0000". */
export function rfc5322Date(ms: number): string {
  return new Date(ms).toUTCString().replace(/GMT$/, "+0000");
}
