/**
 * The servers of a rollout fleet as the client sees them: which are up, how many requests each
 * has outstanding, which are set aside and probed until they answer again. Requests take the up
 * endpoint with the fewest outstanding (at most `concurrency` each); an endpoint whose server
 * failed `setAsideAfter` times in a row is set aside and probed every `probeIntervalMs`; when its
 * probe answers, `rejoin` (the fleet's policy: adapters, weights) prepares it before it takes
 * requests again. Watchers (the reports of the calls in flight) hear of both.
 */
import { describeOutcome, endpointRoot, type HttpOutcome, send } from "./fleet-http.ts";
import type { HttpCall } from "./fleet-protocols.ts";

/** One server of the fleet. */
export interface Endpoint {
  /** As given. */
  readonly url: string;
  /** What paths go after (no trailing "/" or "/v1"). */
  readonly root: string;
  /** Its place in the list given. */
  readonly index: number;
  /** Whether it takes requests. */
  up: boolean;
  /** Requests sent to it and not answered yet. */
  outstanding: number;
  /** Server failures in a row. */
  failures: number;
  lastError: string;
  /** Adapters it holds, as far as the client knows. */
  readonly adapters: Set<string>;
  /** Adapters unloaded while it was set aside: unloaded when it comes back. */
  readonly stale: Set<string>;
  /** The full-weights folder it last reloaded. */
  weights: string | null;
  probe: NodeJS.Timeout | null;
}

export interface PoolOptions {
  apiKey?: string;
  /** Requests in flight per endpoint at most. */
  concurrency: number;
  /** Server failures in a row that set an endpoint aside. */
  setAsideAfter: number;
  probeIntervalMs: number;
  /** Time limit of a probe, ms. */
  probeTimeoutMs: number;
  /** How long acquire() waits while every endpoint is set aside, ms. */
  allDownWaitMs: number;
  log?: (message: string) => void;
}

/** Hears of endpoints set aside and taken back. */
export interface PoolWatcher {
  setAside(ep: Endpoint, reason: string): void;
  recovered(ep: Endpoint): void;
}

export class EndpointPool {
  readonly endpoints: readonly Endpoint[];
  /**
   * Prepares an endpoint whose probe answered, before it takes requests again: null when it is
   * ready, else why not (it stays set aside and is probed again).
   */
  rejoin: (ep: Endpoint) => Promise<string | null> = async () => null;
  readonly #watchers = new Set<PoolWatcher>();
  readonly #waiters = new Set<() => void>();
  #closed = false;

  constructor(
    urls: readonly string[],
    readonly probe: HttpCall,
    readonly options: PoolOptions,
  ) {
    const roots = urls.map(endpointRoot);
    const twice = roots.find((r, i) => roots.indexOf(r) !== i);
    if (twice) throw new Error(`fleet: endpoint ${twice} is listed twice`);
    this.endpoints = roots.map((root, index) => ({
      url: urls[index],
      root,
      index,
      up: true,
      outstanding: 0,
      failures: 0,
      lastError: "",
      adapters: new Set(),
      stale: new Set(),
      weights: null,
      probe: null,
    }));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends `call` to `ep` (HTTP errors are outcomes; only `signal` aborting throws). */
  send(ep: Endpoint, call: HttpCall, timeoutMs: number, signal?: AbortSignal): Promise<HttpOutcome> {
    return send(ep.root, call, { apiKey: this.options.apiKey, timeoutMs, signal });
  }

  /**
   * The endpoint for the next request: up, below `concurrency`, fewest outstanding (ties: the first
   * listed), preferring one not in `avoid` (those that failed this request). Counts the request as
   * outstanding until release(). Waits while all are busy; while all are set aside, waits up to
   * allDownWaitMs, then throws.
   */
  async acquire(avoid: ReadonlySet<Endpoint>, signal: AbortSignal): Promise<Endpoint> {
    let allDownSince: number | null = null;
    for (;;) {
      this.#open();
      signal.throwIfAborted();
      const up = this.endpoints.filter((e) => e.up);
      const free = up.filter((e) => e.outstanding < this.options.concurrency);
      const fresh = free.filter((e) => !avoid.has(e));
      const candidates = fresh.length > 0 ? fresh : free;
      if (candidates.length > 0) {
        const best = candidates.reduce((a, b) => (b.outstanding < a.outstanding ? b : a));
        best.outstanding++;
        return best;
      }
      if (up.length > 0) {
        allDownSince = null;
        await this.nextChange(signal);
        continue;
      }
      allDownSince ??= performance.now();
      const left = this.options.allDownWaitMs - (performance.now() - allDownSince);
      if (left <= 0) {
        const why = this.endpoints.map((e) => `${e.root}: ${e.lastError}`).join("; ");
        throw new Error(
          `fleet: all ${this.endpoints.length} endpoints are down (waited ${this.options.allDownWaitMs} ms, ` +
            `probing every ${this.options.probeIntervalMs} ms): ${why}`,
        );
      }
      await this.nextChange(signal, left);
    }
  }

  /** The request acquire() counted has ended. */
  release(ep: Endpoint): void {
    ep.outstanding--;
    this.notify();
  }

  /** `ep` answered: its run of failures ends. */
  succeeded(ep: Endpoint): void {
    ep.failures = 0;
  }

  /** A server failure of `ep` (network, timeout, 5xx): set aside once it failed setAsideAfter times in a row. */
  serverFailed(ep: Endpoint, reason: string): void {
    ep.failures++;
    ep.lastError = reason;
    if (ep.failures >= this.options.setAsideAfter)
      this.setAside(ep, `${ep.failures} failures in a row, the last: ${reason}`);
  }

  /** Takes `ep` out of service and starts probing it. */
  setAside(ep: Endpoint, reason: string): void {
    ep.lastError = reason;
    if (!ep.up) return;
    ep.up = false;
    for (const w of this.#watchers) w.setAside(ep, reason);
    this.options.log?.(
      `fleet: ${ep.root} set aside (${reason}); probing every ${this.options.probeIntervalMs} ms`,
    );
    this.#scheduleProbe(ep);
  }

  /** Adds a watcher; returns what removes it. */
  watch(watcher: PoolWatcher): () => void {
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }

  /**
   * Resolves at the next change (a request ends, an endpoint comes back, a call ends), after `ms`
   * at most; rejects when `signal` aborts. With `wake` false only the time (or the abort) ends it.
   */
  nextChange(signal?: AbortSignal, ms?: number, wake = true): Promise<void> {
    return new Promise((resolve, reject) => {
      const cleanUp = () => {
        this.#waiters.delete(done);
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const done = () => {
        cleanUp();
        resolve();
      };
      const onAbort = () => {
        cleanUp();
        reject(signal?.reason);
      };
      const timer = ms === undefined ? null : setTimeout(done, ms);
      if (wake) this.#waiters.add(done);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Wakes everything waiting in nextChange(). */
  notify(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Stops probing; acquire() throws from now on. */
  close(): void {
    this.#closed = true;
    for (const ep of this.endpoints) if (ep.probe) clearTimeout(ep.probe);
    this.notify();
  }

  #scheduleProbe(ep: Endpoint): void {
    if (this.#closed) return;
    ep.probe = setTimeout(() => void this.#probe(ep), this.options.probeIntervalMs);
    ep.probe.unref(); // probing alone does not keep the process alive
  }

  /** Probes an endpoint set aside; when it answers and rejoin() prepared it, it is up again. */
  async #probe(ep: Endpoint): Promise<void> {
    ep.probe = null;
    const answer = await this.send(ep, this.probe, this.options.probeTimeoutMs);
    const failure = answer.kind === "ok" ? await this.rejoin(ep) : `probe: ${describeOutcome(answer)}`;
    if (this.#closed) return;
    if (failure !== null) {
      ep.lastError = failure;
      this.#scheduleProbe(ep);
      return;
    }
    ep.up = true;
    ep.failures = 0;
    for (const w of this.#watchers) w.recovered(ep);
    this.options.log?.(`fleet: ${ep.root} is back`);
    this.notify();
  }

  #open(): void {
    if (this.#closed) throw new Error("fleet: the generator was closed");
  }
}
