/**
 * Graceful shutdown of the server: the requests in flight, and the drain.
 *
 * Every completion request holds the drain from the moment its body arrived
 * until its answer is made (a stream: until its `[DONE]` is written). A
 * request still sending its body is not in flight yet. `drain(graceMs)` then:
 *
 *   1. closes the door: new requests are answered 503 (see server.ts);
 *   2. waits up to graceMs for the requests in flight to finish;
 *   3. if some have not, aborts `cut`: their sequences stop at the next step,
 *      a stream ends with a final chunk (finish_reason "length") and [DONE],
 *      a non-streaming request is answered 503;
 *   4. resolves once none is left; `cut` stays aborted, so a request whose
 *      body was still arriving is answered 503 too.
 */
import { setMaxListeners } from "node:events";

/** What a handler knows of its request besides the body. */
export interface RequestScope {
  /** Aborts when the client goes away. */
  signal: AbortSignal;
  /** The server's drain: its `cut` ends the request early; a stream `hold`s it until [DONE]. */
  drain: Drain;
}

/** How a drain went. */
export interface DrainReport {
  /** Requests in flight when the drain began. */
  inFlight: number;
  /** Those still running when the grace period ended, ended early. */
  cut: number;
}

/** The server's requests in flight, and its shutdown (one per server). */
export class Drain {
  #closing = false;
  #inFlight = 0;
  #cut = new AbortController();

  constructor() {
    setMaxListeners(0, this.#cut.signal); // every request in flight listens to it
  }
  /** Resolved each time the count of requests in flight reaches 0. */
  #onIdle: Array<() => void> = [];

  /** True once a drain began: new requests are refused. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Requests the server is working on. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Aborts when a drain's grace period ran out (the work in flight ends early) or the drain is over. */
  get cut(): AbortSignal {
    return this.#cut.signal;
  }

  /** Counts one request as in flight until the returned function is called (calling it again does nothing). */
  hold(): () => void {
    this.#inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight--;
      if (this.#inFlight === 0) for (const resolve of this.#onIdle.splice(0)) resolve();
    };
  }

  /** Refuses new requests, lets those in flight finish for up to graceMs, cuts the rest; resolves when none is left. */
  async drain(graceMs: number): Promise<DrainReport> {
    this.#closing = true;
    const inFlight = this.#inFlight;
    const finished = await this.#idle(graceMs);
    const cut = finished ? 0 : this.#inFlight;
    // Ends what is still running, and refuses what comes later (a body still arriving).
    this.#cut.abort(new Error("the server is shutting down"));
    if (!finished) await this.#idle(Number.POSITIVE_INFINITY);
    return { inFlight, cut };
  }

  /** Whether nothing was in flight within ms. */
  #idle(ms: number): Promise<boolean> {
    if (this.#inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = Number.isFinite(ms)
        ? setTimeout(() => {
            this.#onIdle = this.#onIdle.filter((f) => f !== done);
            resolve(false);
          }, ms)
        : undefined;
      this.#onIdle.push(done);
    });
  }
}
