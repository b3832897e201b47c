// "Split every test input every way" (STYLE.md): the same bytes delivered
// whole, cut at each possible point into two reads, and one byte at a time.

/** Every way of delivering `input` that parsers must treat alike. */
export function* splitEveryWay(
  input: Uint8Array,
): Generator<{ label: string; chunks: Uint8Array[] }> {
  yield { label: "whole", chunks: [input] };
  for (let at = 1; at < input.length; at++) {
    yield { label: `split at ${at}`, chunks: [input.subarray(0, at), input.subarray(at)] };
  }
  if (input.length > 2) {
    yield {
      label: "byte by byte",
      chunks: Array.from(input, (_, i) => input.subarray(i, i + 1)),
    };
  }
}

/** A `read()` source that hands out the given chunks, then end of stream. */
export class ChunkSource {
  #chunks: Uint8Array[];
  #current: Uint8Array | undefined;
  reads = 0;

  constructor(chunks: readonly Uint8Array[]) {
    this.#chunks = [...chunks];
  }

  read(into: Uint8Array): Promise<number | null> {
    this.reads++;
    while (this.#current === undefined || this.#current.length === 0) {
      this.#current = this.#chunks.shift();
      if (this.#current === undefined) return Promise.resolve(null);
    }
    const n = Math.min(into.length, this.#current.length);
    into.set(this.#current.subarray(0, n));
    this.#current = this.#current.subarray(n);
    return Promise.resolve(n);
  }
}
