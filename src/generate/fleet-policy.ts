/**
 * The policy a rollout fleet's servers must hold, and pushing it to them: the LoRA adapters
 * loaded (by name, with their folders) and the full weights last reloaded. A load, unload or
 * reload goes to every endpoint up at once; an endpoint down at that moment, or that fails the
 * call with an error that may pass, is set aside and given the policy as it is then when it
 * comes back (giveTo), before it takes requests again.
 */
import type { Endpoint, EndpointPool } from "./fleet-endpoints.ts";
import { describeOutcome, retryable } from "./fleet-http.ts";
import type { FleetProtocol, HttpCall } from "./fleet-protocols.ts";

/** What a load, unload or reload came to. */
export interface PolicySyncReport {
  /** Wall time, ms (the calls run on every endpoint at once). */
  ms: number;
  /** Endpoints up that hold the result. */
  endpoints: number;
  /** Endpoints set aside (down): they get the policy when they come back, before any request. */
  pending: number;
}

export class FleetPolicy {
  /** Adapters loaded: name -> folder (as the servers see it). */
  readonly adapters = new Map<string, string>();
  /** The full-weights folder last reloaded. */
  weights: string | null = null;

  constructor(
    private readonly pool: EndpointPool,
    private readonly protocol: FleetProtocol,
    /** Time limit of each call, ms. */
    private readonly timeoutMs: number,
  ) {
    pool.rejoin = (ep) => this.giveTo(ep);
  }

  /**
   * Loads adapter `name` from `path` on every endpoint up. A server that refuses it (4xx: bad path,
   * name taken) fails the load: the endpoints that took it unload it, and the error names each refusal.
   */
  async loadAdapter(name: string, path: string): Promise<PolicySyncReport> {
    if (this.adapters.has(name)) throw new Error(`fleet: adapter ${JSON.stringify(name)} is already loaded`);
    const started = performance.now();
    this.adapters.set(name, path);
    const refused = await this.#onEveryUp(this.protocol.loadAdapter(name, path), (ep) =>
      ep.adapters.add(name),
    );
    if (refused.length > 0) {
      this.adapters.delete(name);
      await this.#onEveryUp(this.protocol.unloadAdapter(name), (ep) => ep.adapters.delete(name), {
        only: (ep) => ep.adapters.has(name),
        refusedIsDone: true,
      });
      const setup = refused.some((r) => r.includes(": HTTP 404")) ? ` (${this.protocol.adapterSetup})` : "";
      throw new Error(`fleet: adapter ${name} (${path}) was refused: ${refused.join("; ")}${setup}`);
    }
    return this.#report(started, (ep) => ep.adapters.has(name));
  }

  /** Unloads adapter `name` from every endpoint (a server that says it has no such adapter is done). */
  async unloadAdapter(name: string): Promise<PolicySyncReport> {
    if (!this.adapters.has(name)) throw new Error(`fleet: no adapter ${JSON.stringify(name)} is loaded`);
    const started = performance.now();
    this.adapters.delete(name);
    for (const ep of this.pool.endpoints) if (!ep.up && ep.adapters.delete(name)) ep.stale.add(name);
    await this.#onEveryUp(this.protocol.unloadAdapter(name), (ep) => ep.adapters.delete(name), {
      only: (ep) => ep.adapters.has(name),
      refusedIsDone: true,
    });
    return this.#report(started, (ep) => !ep.adapters.has(name));
  }

  /** Makes every endpoint load the full weights of the model folder `path`, where the protocol can. */
  async reloadWeights(path: string): Promise<PolicySyncReport> {
    const call = this.protocol.reloadWeights(path); // throws, saying what exists, where it cannot
    const started = performance.now();
    this.weights = path;
    const refused = await this.#onEveryUp(call, (ep) => {
      ep.weights = path;
    });
    if (refused.length > 0) throw new Error(`fleet: weights ${path} were refused: ${refused.join("; ")}`);
    return this.#report(started, (ep) => ep.weights === path);
  }

  /**
   * Gives an endpoint that comes back the policy: the full weights (if any) reloaded; every adapter
   * it may hold unloaded (it may or may not have restarted), then the loaded ones loaded afresh.
   * Repeats until it holds exactly the policy (loads and unloads may happen meanwhile). Returns null
   * when done, else why not (it stays set aside).
   */
  async giveTo(ep: Endpoint): Promise<string | null> {
    const unloads = new Set([...ep.adapters, ...this.adapters.keys()]);
    ep.adapters.clear();
    for (;;) {
      for (const name of ep.stale) unloads.add(name);
      ep.stale.clear();
      const weights = this.weights;
      if (weights !== null && ep.weights !== weights) {
        const failure = await this.#rejoinCall(ep, this.protocol.reloadWeights(weights), false);
        if (failure !== null) return failure;
        ep.weights = weights;
      }
      for (const name of unloads) {
        const failure = await this.#rejoinCall(ep, this.protocol.unloadAdapter(name), true);
        if (failure !== null) return failure;
        unloads.delete(name);
        ep.adapters.delete(name);
      }
      for (const [name, path] of this.adapters) {
        if (ep.adapters.has(name)) continue;
        const failure = await this.#rejoinCall(ep, this.protocol.loadAdapter(name, path), false);
        if (failure !== null) return failure;
        ep.adapters.add(name);
      }
      for (const name of ep.adapters) if (!this.adapters.has(name)) unloads.add(name);
      const missing = [...this.adapters.keys()].some((n) => !ep.adapters.has(n));
      const settled = unloads.size === 0 && ep.stale.size === 0 && !missing;
      if (settled && (this.weights === null || ep.weights === this.weights)) return null;
    }
  }

  /** One call of giveTo: null when done (for unloads also when refused: not there), else why not. */
  async #rejoinCall(ep: Endpoint, call: HttpCall, refusedIsDone: boolean): Promise<string | null> {
    const answer = await this.pool.send(ep, call, this.timeoutMs);
    const failure = answer.kind === "ok" ? this.protocol.failureOf(answer.body) : null;
    if (answer.kind === "ok" && failure === null) return null;
    if (refusedIsDone && failure === null && !retryable(answer)) return null;
    return `${call.method} ${call.path}: ${failure ?? describeOutcome(answer)}`;
  }

  /**
   * `call` on every endpoint up (`only`: fewer), at once; `done` records each success. A failure that
   * may pass sets its endpoint aside (it gets the policy when it comes back). Returns the refusals
   * (4xx, or a 2xx that says it failed), one line each naming the endpoint.
   */
  async #onEveryUp(
    call: HttpCall,
    done: (ep: Endpoint) => void,
    o: { only?: (ep: Endpoint) => boolean; refusedIsDone?: boolean } = {},
  ): Promise<string[]> {
    const targets = this.pool.endpoints.filter((ep) => ep.up && (o.only?.(ep) ?? true));
    const results = await Promise.all(
      targets.map(async (ep): Promise<string | null> => {
        const answer = await this.pool.send(ep, call, this.timeoutMs);
        const failure = answer.kind === "ok" ? this.protocol.failureOf(answer.body) : null;
        if (answer.kind === "ok" && failure === null) {
          done(ep);
          return null;
        }
        if (failure === null && retryable(answer)) {
          this.pool.setAside(ep, `${call.method} ${call.path}: ${describeOutcome(answer)}`);
          return null;
        }
        if (o.refusedIsDone && failure === null) {
          done(ep);
          return null;
        }
        return `${ep.root}: ${call.method} ${call.path}: ${failure ?? describeOutcome(answer)}`;
      }),
    );
    return results.filter((r): r is string => r !== null);
  }

  #report(started: number, holds: (ep: Endpoint) => boolean): PolicySyncReport {
    const up = this.pool.endpoints.filter((e) => e.up);
    return {
      ms: performance.now() - started,
      endpoints: up.filter(holds).length,
      pending: this.pool.endpoints.length - up.length,
    };
  }
}
