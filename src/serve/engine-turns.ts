/**
 * Turns on the one engine the served model and its adapters share.
 *
 * Each loaded adapter decodes in a LocalGenerator of its own (its own
 * continuous-batching scheduler and KV cache) over the same base weight
 * tensors. The engine forbids writing or freeing any persistent tensor while
 * any graph computes (src/engine/tensor.ts), and a scheduler grows and frees
 * its cache between steps; so two schedulers stepping at once would trip over
 * each other, and so would an adapter being loaded or freed. Hence turns:
 *
 * - a generation turn belongs to one generator: every request for it that
 *   joins the turn is decoded together (continuous batching), and the turn
 *   ends when the last of them finished and the scheduler went idle (its
 *   cache freed);
 * - an exclusive turn runs host work alone (writing an adapter's tensors,
 *   freeing them);
 * - turns run first come first served. A request for the generator of the
 *   running turn joins it while nobody waits; once another turn waits, it
 *   joins (or opens) a turn behind it, so no adapter starves another.
 *
 * With one model and no adapter there is only ever one generator, and every
 * request joins the running turn: the server batches as it always did.
 */
import type { LocalGenerator } from "../generate/local.ts";

interface Turn {
  /** The generator decoding in this turn; null for an exclusive turn. */
  generator: LocalGenerator | null;
  /** Requests in the turn (joined and not finished). */
  holders: number;
  /** Set once the turn stopped taking requests (its end is under way). */
  closing: boolean;
  /** Resolves when the turn starts. */
  started: Promise<void>;
  start: () => void;
}

export class EngineTurns {
  #current: Turn | null = null;
  #queue: Turn[] = [];
  #settled: Array<() => void> = [];

  /**
   * Runs `work`, which submits sequences to `generator` and awaits them, in a turn of that
   * generator. Aborting `signal` while the turn has not started rejects with its reason.
   */
  async generate<T>(generator: LocalGenerator, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const current = this.#current;
    const turn =
      current?.generator === generator && !current.closing && this.#queue.length === 0
        ? current
        : (this.#queue.find((t) => t.generator === generator) ?? this.#enqueue(generator));
    turn.holders++;
    try {
      await whenStarted(turn, signal);
      return await work();
    } finally {
      this.#leave(turn);
    }
  }

  /** Runs `work` alone: no generator decodes meanwhile (writing or freeing tensors). */
  async exclusive<T>(work: () => Promise<T> | T): Promise<T> {
    const turn = this.#enqueue(null);
    turn.holders++;
    try {
      await turn.started;
      return await work();
    } finally {
      this.#leave(turn);
    }
  }

  /** Resolves when no turn runs or waits. */
  idle(): Promise<void> {
    if (!this.#current && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#settled.push(resolve));
  }

  #enqueue(generator: LocalGenerator | null): Turn {
    let start = () => {};
    const started = new Promise<void>((resolve) => {
      start = resolve;
    });
    const turn: Turn = { generator, holders: 0, closing: false, started, start };
    this.#queue.push(turn);
    queueMicrotask(() => this.#next());
    return turn;
  }

  #leave(turn: Turn): void {
    turn.holders--;
    if (turn.holders === 0 && turn === this.#current) void this.#end(turn);
  }

  /** Ends the running turn once its generator is idle (its KV cache freed), then starts the next. */
  async #end(turn: Turn): Promise<void> {
    if (turn.closing) return;
    turn.closing = true;
    try {
      await turn.generator?.idle();
    } finally {
      this.#current = null;
      this.#next();
    }
  }

  #next(): void {
    if (this.#current) return;
    const turn = this.#queue.shift();
    if (!turn) {
      for (const resolve of this.#settled.splice(0)) resolve();
      return;
    }
    this.#current = turn;
    turn.start();
    // Everyone who joined gave up while it waited: nothing to run.
    if (turn.holders === 0) void this.#end(turn);
  }
}

/** Resolves when `turn` starts; rejects with the signal's reason if it aborts first. */
function whenStarted(turn: Turn, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return turn.started;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    turn.started.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}
