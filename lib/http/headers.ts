// An ordered list of header fields (RFC 9110 section 5).
//
// Unlike the Web `Headers` class it keeps repeated fields as they arrived
// (`getAll`), keeps the sender's spelling of names for forwarding, and does
// no validation of its own: the codec validates what comes off the wire and
// the writer validates what goes on it. Lookup is case-insensitive.

export type HeadersInit =
  | HttpHeaders
  | Readonly<Record<string, string>>
  | readonly (readonly [string, string])[];

export class HttpHeaders {
  #names: string[] = [];
  #lower: string[] = [];
  #values: string[] = [];

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

  /** Number of fields, repeated ones counted each time. */
  get size(): number {
    return this.#names.length;
  }

  /** Adds a field, keeping any earlier ones with the same name. */
  append(name: string, value: string): void {
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
    return this.#lower.indexOf(name.toLowerCase()) !== -1;
  }

  /**
   * The field's value; repeated fields are joined with ", " as RFC 9110
   * section 5.3 allows (do not use for Set-Cookie: use `getAll`).
   */
  get(name: string): string | undefined {
    const lower = name.toLowerCase();
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
    for (let i = 0; i < this.#lower.length; i++) {
      if (this.#lower[i] === lower) out.push(this.#values[i]);
    }
    return out;
  }

  /** How many times the field appears. */
  count(name: string): number {
    const lower = name.toLowerCase();
    let n = 0;
    for (const l of this.#lower) if (l === lower) n++;
    return n;
  }

  /** [name, value] pairs in order, with the names as they were given. */
  *[Symbol.iterator](): IterableIterator<[string, string]> {
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
    const token = part.trim().toLowerCase();
    if (token !== "") out.push(token);
  }
  return out;
}
