// A list of messages kept in sequence order, cheap at both ends: new
// messages append (their sequence numbers only grow), a message handed back
// (NACK, a consumer gone) is put back where it was, so a queue keeps its
// order for a single producer even across redeliveries.

export interface Sequenced {
  readonly seq: number;
}

export class SeqList<T extends Sequenced> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Adds `item` in sequence order (at the end in the common case). */
  insert(item: T): void {
    const items = this.#items;
    if (items.length === this.#head || items[items.length - 1].seq < item.seq) {
      items.push(item);
      return;
    }
    let low = this.#head;
    let high = items.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (items[mid].seq < item.seq) low = mid + 1;
      else high = mid;
    }
    if (low === this.#head && this.#head > 0) {
      this.#items[--this.#head] = item;
      return;
    }
    items.splice(low, 0, item);
  }

  peek(): T | undefined {
    return this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined as unknown as T;
    // Drop the consumed front once it is at least half the array.
    if (this.#head > 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** The first `n` items, oldest first, without removing them. */
  first(n: number): T[] {
    return this.#items.slice(this.#head, this.#head + n);
  }

  /** Removes and returns every item. */
  drain(): T[] {
    const items = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return items;
  }
}
