/**
 * A pool of reusable things (the sequences of a llama.cpp context, slots for HTTP requests in
 * flight): `use` waits for a free one, lends it to a task, and takes it back when the task ends,
 * whether it succeeded or threw. Waiting tasks are served first come, first served.
 */
export class Pool<T> {
  readonly #free: T[];
  readonly #waiting: Array<(item: T) => void> = [];

  constructor(items: readonly T[]) {
    if (items.length === 0) throw new Error("a pool needs at least one item");
    this.#free = [...items];
  }

  /** A pool of `size` interchangeable slots (a concurrency limit). */
  static slots(size: number): Pool<number> {
    return new Pool(Array.from({ length: size }, (_, i) => i));
  }

  /** Runs `task` with an item of the pool, once one is free. */
  async use<R>(task: (item: T) => Promise<R>): Promise<R> {
    const item = await this.#acquire();
    try {
      return await task(item);
    } finally {
      this.#release(item);
    }
  }

  #acquire(): Promise<T> {
    if (this.#free.length > 0) return Promise.resolve(this.#free.pop() as T);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(item: T): void {
    const next = this.#waiting.shift();
    if (next) next(item);
    else this.#free.push(item);
  }
}
