// A users file, as `--users-file` takes it for the services that log clients
// in (smtp's AUTH, the mq's CONNECT): one `name:secret` per line, blank lines
// and `#` comments skipped, the secret being everything after the first
// colon. Pure.

/** The users of a users file, by name; a malformed line throws naming its number. */
export function parseUsers(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new TypeError(`users file line ${i + 1}: expected name:secret`);
    users.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return users;
}
