// Access control for recursive service: which client networks may ask.
//
// An open resolver is an amplification tool for anyone on the internet, so
// by default only loopback and private ranges (RFC 1918, RFC 4193 unique
// local, link-local) are answered; everyone else gets REFUSED. Networks are
// CIDR prefixes, IPv4 or IPv6; an IPv4-mapped IPv6 client (::ffff:a.b.c.d)
// is matched as the IPv4 address it is.

/** A parsed CIDR prefix. */
export interface Network {
  readonly family: 4 | 6;
  /** The address as 4 or 16 bytes. */
  readonly bytes: Uint8Array;
  readonly prefixBits: number;
  /** As written, for logs. */
  readonly text: string;
}

/** Loopback and private ranges: the default allow list. */
export const DEFAULT_ALLOWED = [
  "127.0.0.0/8",
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "169.254.0.0/16",
  "::1/128",
  "fc00::/7",
  "fe80::/10",
] as const;

/** Parses "10.0.0.0/8", "::1/128", or a bare address (a /32 or /128). */
export function parseNetwork(text: string): Network {
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const bytes = parseAddress(addressText);
  if (bytes === undefined) throw new SyntaxError(`not an IP address: "${addressText}"`);
  const family = bytes.length === 4 ? 4 : 6;
  const maxBits = bytes.length * 8;
  let prefixBits = maxBits;
  if (slash !== -1) {
    const bitsText = text.slice(slash + 1);
    prefixBits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
    if (!(prefixBits >= 0 && prefixBits <= maxBits)) {
      throw new SyntaxError(`bad prefix length in "${text}"`);
    }
  }
  return { family, bytes, prefixBits, text };
}

/** True when `address` falls inside `network`. */
export function contains(network: Network, address: Uint8Array): boolean {
  if (address.length !== network.bytes.length) return false;
  let bits = network.prefixBits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i] & mask) !== (network.bytes[i] & mask)) return false;
  }
  return true;
}

/** A list of allowed networks. */
/** Verdicts remembered per client address; clients are few, parsing is not free. */
const VERDICTS_MAX = 4096;

export class AccessList {
  readonly #networks: readonly Network[];
  readonly #verdicts = new Map<string, boolean>();

  constructor(networks: readonly (string | Network)[]) {
    this.#networks = networks.map((n) => typeof n === "string" ? parseNetwork(n) : n);
  }

  /** True when the client at `hostname` may use the resolver. */
  allows(hostname: string): boolean {
    let verdict = this.#verdicts.get(hostname);
    if (verdict === undefined) {
      verdict = this.#check(hostname);
      if (this.#verdicts.size >= VERDICTS_MAX) this.#verdicts.clear();
      this.#verdicts.set(hostname, verdict);
    }
    return verdict;
  }

  #check(hostname: string): boolean {
    let bytes = parseAddress(hostname);
    if (bytes === undefined) return false;
    if (bytes.length === 16 && isV4Mapped(bytes)) bytes = bytes.subarray(12);
    for (const network of this.#networks) if (contains(network, bytes)) return true;
    return false;
  }
}

/** Parses an IPv4 dotted quad or an IPv6 address (with ::, zone ids dropped). */
export function parseAddress(text: string): Uint8Array | undefined {
  if (text.includes(":")) return parseIpv6(text);
  return parseIpv4(text);
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i])) return undefined;
    const value = Number(parts[i]);
    if (value > 255) return undefined;
    out[i] = value;
  }
  return out;
}

function parseIpv6(input: string): Uint8Array | undefined {
  let text = input.replace(/^\[|\]$/g, "");
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined;
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((group, i) => {
    out[i * 2] = group >> 8;
    out[i * 2 + 1] = group & 0xff;
  });
  return out;
}

function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}
