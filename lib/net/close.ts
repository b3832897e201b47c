// Closing a socket, listener or file that may already be closed (by the peer,
// a timeout, or another path of shutdown) throws BadResource; where that is
// expected, this is the one place that says so.

/** Anything with a `close()`: a `Deno.Conn`, a listener, a datagram socket, a file. */
export interface Closable {
  close(): void;
}

/** Closes `resource`, ignoring the error if it is already closed. */
export function closeQuietly(resource: Closable | undefined): void {
  try {
    resource?.close();
  } catch { /* already closed */ }
}
