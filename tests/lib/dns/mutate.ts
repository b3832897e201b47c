// Seeded packet mutations for the fuzz tests.

/** xorshift32: small, fast, deterministic. */
export function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

/** One mutated packet: bit flips, byte overwrites, cuts, insertions or pure noise. */
export function mutate(next: () => number, seeds: readonly Uint8Array[]): Uint8Array {
  const base = seeds[next() % seeds.length];
  const kind = next() % 6;
  if (kind === 0) return Uint8Array.from({ length: next() % 80 }, () => next() & 0xff);
  let out = base.slice();
  const edits = 1 + (next() % 4);
  for (let i = 0; i < edits; i++) {
    const at = out.length === 0 ? 0 : next() % out.length;
    switch (kind) {
      case 1:
        out[at] ^= 1 << (next() % 8);
        break;
      case 2:
        out[at] = next() & 0xff;
        break;
      case 3:
        out = out.slice(0, at);
        break;
      case 4: {
        const insert = Uint8Array.from({ length: 1 + (next() % 4) }, () => next() & 0xff);
        out = Uint8Array.from([...out.subarray(0, at), ...insert, ...out.subarray(at)]);
        break;
      }
      default:
        // Aim at the counts and the first name: the likeliest places for lies.
        out[4 + (next() % 10)] = next() & 0xff;
    }
  }
  return out;
}
