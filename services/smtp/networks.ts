// CIDR networks for --trusted-network (clients that may relay without
// authenticating, like Postfix's mynetworks). Pure: no I/O.

/** An IPv4 or IPv6 network: the address bytes and the prefix length. */
export interface Cidr {
  readonly bytes: Uint8Array;
  readonly prefixBits: number;
}

/** Parses "127.0.0.0/8", "::1/128" or a bare address (a /32 or /128); undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  const address = parseAddress(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  const bitsMax = address.length * 8;
  const prefix = slash < 0 ? String(bitsMax) : text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(prefix) || Number(prefix) > bitsMax) return undefined;
  return { bytes: address, prefixBits: Number(prefix) };
}

/** True when `address` falls in one of `networks`. */
export function inNetworks(address: string, networks: readonly Cidr[]): boolean {
  let bytes = parseAddress(address);
  if (bytes === undefined) return false;
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is matched as IPv4.
  if (
    bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) &&
    bytes[10] === 0xff && bytes[11] === 0xff
  ) {
    bytes = bytes.slice(12);
  }
  return networks.some((n) => n.bytes.length === bytes.length && matches(bytes, n));
}

function matches(address: Uint8Array, network: Cidr): boolean {
  let bits = network.prefixBits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i] & mask) !== (network.bytes[i] & mask)) return false;
  }
  return true;
}

function parseAddress(text: string): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4 !== null) {
    const parts = v4.slice(1).map(Number);
    return parts.every((p) => p <= 255) ? new Uint8Array(parts) : undefined;
  }
  if (!text.includes(":")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string) => half === "" ? [] : half.split(":");
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-f]{1,4}$/i.test(all[i])) return undefined;
    const value = parseInt(all[i], 16);
    out[i * 2] = value >> 8;
    out[i * 2 + 1] = value & 0xff;
  }
  return out;
}
