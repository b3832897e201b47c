// An ordered list of header fields (RFC 9110 section 5).
//
// Unlike the Web `Headers` class it keeps repeated fields as they arrived
// (`getAll`), keeps the sender's spelling of names for forwarding, and does
// no validation of its own: the codec validates what comes off the wire and
// the writer validates what goes on it. Lookup is case-insensitive.

/** The shared empty list of a HttpHeaders without fields; never written to. */
const NONE: string[] = Object.freeze([]) as unknown as string[];

export type HeadersInit =
  | HttpHeaders
  | Readonly<Record<string, string>>
  | readonly (readonly [string, string])[];

export class HttpHeaders {
  // Made on first use: a request's headers often are never looked at.
  #names: string[] = NONE;
  #lower: string[] = NONE;
  #values: string[] = NONE;
  /** Fields not cut into strings yet (see fromSpans). */
  #text: string | undefined;
  #spans: readonly number[] | undefined;
  #base = 0;

  /**
   * Fields as a decoder found them: `text` holds the field lines, `spans`
   * four offsets per field (name start and end, value start and end)
   * counted from `base`. Nothing is cut until a field is looked at, so a
   * handler that reads no header pays for none.
   */
  static fromSpans(text: string, spans: readonly number[], base: number): HttpHeaders {
    const headers = new HttpHeaders();
    if (spans.length === 0) return headers;
    headers.#text = text;
    headers.#spans = spans;
    headers.#base = base;
    return headers;
  }

  #cut(): void {
    const text = this.#text!;
    const spans = this.#spans!;
    const base = this.#base;
    this.#text = this.#spans = undefined;
    for (let i = 0; i < spans.length; i += 4) {
      this.append(
        text.slice(spans[i] - base, spans[i + 1] - base),
        text.slice(spans[i + 2] - base, spans[i + 3] - base),
      );
    }
  }

  /**
   * The offset in the spans of the first field at or after span offset
   * `from` named `lower` (ASCII case ignored), or -1. Only while uncut.
   */
  #find(lower: string, from: number): number {
    const text = this.#text!;
    const spans = this.#spans!;
    const base = this.#base;
    for (let i = from; i < spans.length; i += 4) {
      const start = spans[i] - base;
      if (spans[i + 1] - base - start !== lower.length) continue;
      let k = 0;
      while (k < lower.length) {
        let c = text.charCodeAt(start + k);
        if (c >= 0x41 && c <= 0x5a) c |= 0x20;
        if (c !== lower.charCodeAt(k)) break;
        k++;
      }
      if (k === lower.length) return i;
    }
    return -1;
  }

  #uncutValue(at: number): string {
    const base = this.#base;
    return this.#text!.slice(this.#spans![at + 2] - base, this.#spans![at + 3] - base);
  }

  constructor(init?: HeadersInit) {
    if (init === undefined) return;
    if (init instanceof HttpHeaders) {
      for (const [name, value] of init) this.append(name, value);
    } else if (Array.isArray(init)) {
      for (const [name, value] of init as readonly (readonly [string, string])[]) {
        this.append(name, value);
      }
    } else {
      for (const [name, value] of Object.entries(init)) this.append(name, value);
    }
  }

  /**
   * The field lines as the decoder found them (`name: value` each ending in
   * CRLF), while no field has been cut out or changed; undefined otherwise.
   * A proxy passes them on without building a field list.
   */
  fieldLines(): string | undefined {
    return this.#text;
  }

  /** Number of fields, repeated ones counted each time. */
  get size(): number {
    if (this.#text !== undefined) this.#cut();
    return this.#names.length;
  }

  /** Adds a field, keeping any earlier ones with the same name. */
  append(name: string, value: string): void {
    if (this.#text !== undefined) this.#cut();
    if (this.#names === NONE) {
      this.#names = [];
      this.#lower = [];
      this.#values = [];
    }
    this.#names.push(name);
    this.#lower.push(name.toLowerCase());
    this.#values.push(value);
  }

  /** Replaces every field named `name` with one. */
  set(name: string, value: string): void {
    this.delete(name);
    this.append(name, value);
  }

  /** Removes every field named `name`. */
  delete(name: string): void {
    if (this.#text !== undefined) this.#cut();
    const lower = name.toLowerCase();
    for (let i = this.#lower.length - 1; i >= 0; i--) {
      if (this.#lower[i] === lower) {
        this.#names.splice(i, 1);
        this.#lower.splice(i, 1);
        this.#values.splice(i, 1);
      }
    }
  }

  has(name: string): boolean {
    if (this.#text !== undefined) return this.#find(name.toLowerCase(), 0) !== -1;
    return this.#lower.indexOf(name.toLowerCase()) !== -1;
  }

  /**
   * The field's value; repeated fields are joined with ", " as RFC 9110
   * section 5.3 allows (do not use for Set-Cookie: use `getAll`).
   */
  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    if (this.#text !== undefined) {
      // Looked up in the decoded text: nothing is cut but the value asked for.
      let out: string | undefined;
      for (let i = this.#find(lower, 0); i !== -1; i = this.#find(lower, i + 4)) {
        const value = this.#uncutValue(i);
        out = out === undefined ? value : `${out}, ${value}`;
      }
      return out;
    }
    let out: string | undefined;
    for (let i = 0; i < this.#lower.length; i++) {
      if (this.#lower[i] === lower) {
        out = out === undefined ? this.#values[i] : `${out}, ${this.#values[i]}`;
      }
    }
    return out;
  }

  /** Every value of the field, in order of arrival. */
  getAll(name: string): string[] {
    const lower = name.toLowerCase();
    const out: string[] = [];
    if (this.#text !== undefined) {
      for (let i = this.#find(lower, 0); i !== -1; i = this.#find(lower, i + 4)) {
        out.push(this.#uncutValue(i));
      }
      return out;
    }
    for (let i = 0; i < this.#lower.length; i++) {
      if (this.#lower[i] === lower) out.push(this.#values[i]);
    }
    return out;
  }

  /** How many times the field appears. */
  count(name: string): number {
    const lower = name.toLowerCase();
    let n = 0;
    if (this.#text !== undefined) {
      for (let i = this.#find(lower, 0); i !== -1; i = this.#find(lower, i + 4)) n++;
      return n;
    }
    for (const l of this.#lower) if (l === lower) n++;
    return n;
  }

  /** [name, value] pairs in order, with the names as they were given. */
  *[Symbol.iterator](): IterableIterator<[string, string]> {
    if (this.#text !== undefined) this.#cut();
    for (let i = 0; i < this.#names.length; i++) yield [this.#names[i], this.#values[i]];
  }

  /** A plain object with lowercase names (repeated fields joined), for logs and JSON. */
  toObject(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name] of this) {
      const lower = name.toLowerCase();
      if (!(lower in out)) out[lower] = this.get(lower)!;
    }
    return out;
  }
}

/** The comma-separated tokens of a list field, lowercased (RFC 9110 section 5.6.1). */
export function listTokens(value: string | undefined): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const part of value.split(",")) {
    // Only OWS (SP and HTAB) is trimmed: obs-text such as NBSP is part of the token.
    const token = part.replace(OWS_EDGES, "").toLowerCase();
    if (token !== "") out.push(token);
  }
  return out;
}

const OWS_EDGES = /^[ \t]+|[ \t]+$/g;
