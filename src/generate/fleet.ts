/**
 * Rollouts on a fleet of inference servers (vLLM, SGLang, `reasonrl serve`): a Generator whose
 * prompts go out as HTTP requests, one per prompt with its n samples, and whose policy (LoRA
 * adapters, or full weights where the protocol can reload them) is pushed to every server.
 * What is sent and read is fleet-protocols.ts; one exchange is fleet-http.ts; the endpoints' states
 * (spreading, set aside, probed) are fleet-endpoints.ts; the policy pushed to them is fleet-policy.ts.
 *
 * Seeds: prompt i of a call seeded s is sent with seed promptSeed(s, i) (src/generate/sampling.ts),
 * so a fleet of reasonrl servers samples exactly what LocalGenerator.generate samples locally.
 *
 * Spreading: each request goes to the endpoint with the fewest requests outstanding (at most
 * `concurrency` each; ties to the first listed), preferring endpoints that have not failed it.
 *
 * Failures: a network error, a timeout, a 5xx, a 408 or a 429 is retried, on another endpoint when
 * one is up, after a backoff (`backoffMs`, doubled each retry, times a random 0.5-1.5), at most
 * `retries` times. An endpoint whose server failed `setAsideAfter` times in a row (network errors,
 * timeouts, 5xx), or that answers 404 for the adapter a request names (it restarted and lost it),
 * is set aside and probed (GET /health) every `probeIntervalMs`; when it answers, it is given the
 * client's policy first (stale adapters unloaded, the loaded ones loaded afresh, the full weights
 * reloaded), then takes requests again. Other 4xx answers are not retried (the request is wrong):
 * the call throws, naming the endpoint and the server's message. With every endpoint set aside, a
 * request waits up to `allDownWaitMs` for one to come back, then the call throws. So a call either
 * returns every group or throws: never fewer groups. What happened is in lastReport() (FleetReport;
 * fleetMetrics() flattens it into step metrics).
 *
 * Text: decoded from the token ids by the `tokenizer` option when given (as LocalGenerator decodes
 * them: special tokens left out, cut before a stop string), else the server's text, else "".
 */
import { z } from "zod";
import type { Tokenizer } from "../model/tokenizer.ts";
import { type Endpoint, EndpointPool } from "./fleet-endpoints.ts";
import { describeOutcome, type HttpOutcome, retryable, serverFault } from "./fleet-http.ts";
import { FleetPolicy, type PolicySyncReport } from "./fleet-policy.ts";
import {
  AbortedAnswerError,
  type FleetProtocol,
  FleetProtocolName,
  fleetProtocol,
  type GenerateSpec,
  LogprobKind,
  ProtocolError,
} from "./fleet-protocols.ts";
import { promptSeed, SamplingOptions } from "./sampling.ts";
import { StopText } from "./stop-text.ts";
import type { Completion, Generator } from "./types.ts";

/** Options of `new FleetGenerator(...)`. */
export const FleetOptions = z.object({
  /** The servers' URLs ("http://10.0.0.5:8000"; a trailing "/v1" is dropped). */
  endpoints: z.array(z.url({ protocol: /^https?$/ })).min(1),
  /** What the servers speak. */
  protocol: FleetProtocolName,
  /** The base model's served name: what requests name until an adapter is loaded or selected. */
  model: z.string().min(1),
  /** Sent as "Authorization: Bearer <apiKey>". */
  apiKey: z.string().min(1).optional(),
  /** Time limit of one request (its n completions included), and of an adapter load or weights reload, in ms. */
  timeoutMs: z.number().positive().default(600_000),
  /** Times a request is sent again after a failure that may pass (network, timeout, 5xx, 408, 429). */
  retries: z.number().int().min(0).default(4),
  /** Wait before the first retry, in ms (doubled each retry, times a random 0.5-1.5; at most 30 s). */
  backoffMs: z.number().min(0).default(500),
  /** Requests in flight per endpoint at most (each asks for n samples of one prompt). */
  concurrency: z.number().int().positive().default(16),
  /** Server failures in a row (network errors, timeouts, 5xx) that set an endpoint aside. */
  setAsideAfter: z.number().int().positive().default(2),
  /** How often an endpoint set aside is probed (GET /health), in ms. */
  probeIntervalMs: z.number().positive().default(3000),
  /** Time limit of a probe (GET /health), in ms. */
  probeTimeoutMs: z.number().positive().default(10_000),
  /** How long a request waits while every endpoint is set aside before the call throws, in ms. */
  allDownWaitMs: z.number().min(0).default(120_000),
  /** What the servers' log-probs are (default: the protocol's; vLLM: "raw" unless started with --logprobs-mode processed_logprobs). */
  logprobs: LogprobKind.optional(),
  /**
   * Send each prompt's seed (promptSeed(call seed, prompt)). Default: yes for vllm and reasonrl;
   * no for sglang, which honours sampling_seed only with --enable-deterministic-inference.
   */
  sendSeed: z.boolean().optional(),
  /** Decodes completion text from the token ids (recommended: the trainer's own tokenizer). */
  tokenizer: z
    .custom<Tokenizer>(
      (v) => typeof (v as Tokenizer | undefined)?.decode === "function",
      "expected a Tokenizer",
    )
    .optional(),
  /** Told of endpoints set aside and taken back. */
  log: z.custom<(message: string) => void>((v) => typeof v === "function").optional(),
});
export type FleetOptions = z.input<typeof FleetOptions>;

/** What one generate() call came to (lastReport()). */
export interface FleetReport {
  /** The model (base or adapter name) the call generated with. */
  model: string;
  /** What the completions' log-probs are: "processed" (the sampler's, temperature applied) or "raw". */
  logprobs: LogprobKind;
  /** Prompts asked for: each got its group (a call that returns returns them all). */
  prompts: number;
  /** Requests sent, retries included. */
  requests: number;
  /** Requests sent again after a failure. */
  retries: number;
  /** Endpoints set aside during the call. */
  setAside: number;
  /** Endpoints taken back during the call (their policy re-sent first). */
  recovered: number;
  /** Endpoints set aside when the call ended. */
  endpointsDown: number;
  /** Requests each endpoint answered, in the order of the `endpoints` option. */
  answered: number[];
  /** Wall time of the call, ms. */
  ms: number;
  /** What went wrong, one line each ("http://h:8001: POST /v1/completions: network error: ECONNREFUSED"). */
  events: string[];
}

/** A report as step metrics (snake_case numbers): what the trainer logs per step. */
export function fleetMetrics(r: FleetReport): Record<string, number> {
  return {
    fleet_requests: r.requests,
    fleet_retries: r.retries,
    fleet_set_aside: r.setAside,
    fleet_recovered: r.recovered,
    fleet_endpoints_down: r.endpointsDown,
    fleet_ms: r.ms,
  };
}

export type { PolicySyncReport } from "./fleet-policy.ts";

/** Longest wait between retries, ms. */
const MAX_BACKOFF_MS = 30_000;

export class FleetGenerator implements Generator {
  readonly options: z.output<typeof FleetOptions>;
  readonly protocol: FleetProtocol;
  /** What the completions' log-probs are. */
  readonly logprobs: LogprobKind;
  readonly #pool: EndpointPool;
  readonly #policy: FleetPolicy;
  #model: string;
  /** generate() calls in flight per model name (an adapter is unloaded only when none uses it). */
  readonly #inUse = new Map<string, number>();
  #last: FleetReport | null = null;

  constructor(options: FleetOptions) {
    this.options = FleetOptions.parse(options);
    const o = this.options;
    this.protocol = fleetProtocol(o.protocol);
    this.logprobs = o.logprobs ?? this.protocol.logprobs;
    this.#model = o.model;
    this.#pool = new EndpointPool(o.endpoints, this.protocol.probe, {
      apiKey: o.apiKey,
      concurrency: o.concurrency,
      setAsideAfter: o.setAsideAfter,
      probeIntervalMs: o.probeIntervalMs,
      probeTimeoutMs: o.probeTimeoutMs,
      allDownWaitMs: o.allDownWaitMs,
      log: o.log,
    });
    this.#policy = new FleetPolicy(this.#pool, this.protocol, o.timeoutMs);
  }

  /** The model generate() names: the base model's name or a loaded adapter's. */
  get model(): string {
    return this.#model;
  }

  /** Generate with `name` from now on: the base model's name or a loaded adapter's. */
  setModel(name: string): void {
    if (name !== this.options.model && !this.#policy.adapters.has(name))
      throw new Error(
        `fleet: no model ${JSON.stringify(name)}: the base is ${JSON.stringify(this.options.model)}, ` +
          `adapters loaded: ${[...this.#policy.adapters.keys()].join(", ") || "none"}`,
      );
    this.#model = name;
  }

  /** The report of the last generate() call that ended (null before the first). */
  lastReport(): FleetReport | null {
    return this.#last;
  }

  /** Each endpoint: whether it takes requests, how many are in flight, its last failure. */
  endpointStatus(): Array<{ url: string; up: boolean; outstanding: number; lastError: string }> {
    return this.#pool.endpoints.map(({ url, up, outstanding, lastError }) => ({
      url,
      up,
      outstanding,
      lastError,
    }));
  }

  /** n completions of each prompt (token ids): result[prompt][sample]; see the file's comment. */
  async generate(
    prompts: Int32Array[],
    options: z.input<typeof SamplingOptions> = {},
  ): Promise<Completion[][]> {
    this.#open();
    const o = SamplingOptions.parse(options);
    prompts.forEach((p, i) => {
      if (p.length === 0) throw new Error(`fleet: prompt ${i} is empty`);
      const bad = p.find((t) => !(t >= 0));
      if (bad !== undefined) throw new Error(`fleet: prompt ${i} holds token ${bad}, not a token id`);
    });
    const model = this.#model;
    const started = performance.now();
    const { report, unwatch } = this.#startReport(model, prompts.length);
    this.#inUse.set(model, (this.#inUse.get(model) ?? 0) + 1);
    const failed = new AbortController();
    try {
      return await Promise.all(
        prompts.map((prompt, i) => {
          const spec: GenerateSpec = {
            prompt,
            model,
            adapter: model !== this.options.model,
            n: o.n,
            seed: (this.options.sendSeed ?? this.protocol.seeds) ? promptSeed(o.seed, i) : null,
            temperature: o.temperature,
            topP: o.topP,
            topK: o.topK,
            minP: o.minP,
            maxTokens: o.maxTokens,
            stop: o.stop,
          };
          return this.#ask(spec, i, report, failed.signal).catch((err: unknown) => {
            failed.abort(err); // the call fails: its other requests stop
            throw err;
          });
        }),
      );
    } finally {
      unwatch();
      this.#inUse.set(model, (this.#inUse.get(model) ?? 1) - 1);
      report.ms = performance.now() - started;
      report.endpointsDown = this.#pool.endpoints.filter((e) => !e.up).length;
      this.#last = report;
      this.#pool.notify();
    }
  }

  /**
   * Loads a LoRA adapter (PEFT folder `path`, as the servers see it) under `name` on every endpoint
   * at once, then generates with it (setModel). Endpoints down now get it when they come back,
   * before any request. A server that refuses it (4xx: bad path, name taken) fails the call.
   */
  async loadAdapter(name: string, path: string): Promise<PolicySyncReport> {
    this.#open();
    if (name === this.options.model)
      throw new Error(`fleet: ${JSON.stringify(name)} is the base model's name`);
    const report = await this.#policy.loadAdapter(name, path);
    this.#model = name;
    return report;
  }

  /**
   * Unloads adapter `name` from every endpoint once no generate() call uses it; generation goes back
   * to the base model if it was the one in use. Endpoints down now unload it when they come back.
   */
  async unloadAdapter(name: string): Promise<PolicySyncReport> {
    this.#open();
    if (!this.#policy.adapters.has(name))
      throw new Error(`fleet: no adapter ${JSON.stringify(name)} is loaded`);
    if (this.#model === name) this.#model = this.options.model;
    while ((this.#inUse.get(name) ?? 0) > 0) await this.#pool.nextChange();
    return this.#policy.unloadAdapter(name);
  }

  /**
   * Makes every endpoint load full weights from the model folder `path` (SGLang's
   * /update_weights_from_disk); throws, saying what exists, where the protocol cannot (vLLM, reasonrl).
   */
  async reloadWeights(path: string): Promise<PolicySyncReport> {
    this.#open();
    return this.#policy.reloadWeights(path);
  }

  /** Stops probing the endpoints set aside; later calls throw. Idempotent. */
  close(): void {
    this.#pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** A call's report, told of endpoints set aside and taken back until `unwatch()`. */
  #startReport(model: string, prompts: number): { report: FleetReport; unwatch: () => void } {
    const report: FleetReport = {
      model,
      logprobs: this.logprobs,
      prompts,
      requests: 0,
      retries: 0,
      setAside: 0,
      recovered: 0,
      endpointsDown: 0,
      answered: this.#pool.endpoints.map(() => 0),
      ms: 0,
      events: [],
    };
    const unwatch = this.#pool.watch({
      setAside(ep, reason) {
        report.setAside++;
        report.events.push(`${ep.root}: set aside: ${reason}`);
      },
      recovered(ep) {
        report.recovered++;
        report.events.push(`${ep.root}: taken back`);
      },
    });
    return { report, unwatch };
  }

  /** One prompt's n completions, retried as the file's comment says. */
  async #ask(spec: GenerateSpec, i: number, report: FleetReport, signal: AbortSignal): Promise<Completion[]> {
    const call = this.protocol.generate(spec);
    const failedHere = new Set<Endpoint>();
    for (let attempt = 0; ; attempt++) {
      const ep = await this.#pool.acquire(failedHere, signal);
      report.requests++;
      let outcome: HttpOutcome;
      try {
        outcome = await this.#pool.send(ep, call, this.options.timeoutMs, signal);
      } finally {
        this.#pool.release(ep);
      }
      const where = `${ep.root}: ${call.method} ${call.path} (prompt ${i})`;
      let reason: string;
      if (outcome.kind === "ok") {
        try {
          const samples = this.protocol.parseGenerate(outcome.body, spec.n);
          this.#pool.succeeded(ep);
          report.answered[ep.index]++;
          return samples.map((s) => ({
            ids: s.ids,
            logprobs: s.logprobs,
            finishReason: s.finishReason,
            text: this.#text(s.ids, spec.stop) ?? s.text ?? "",
          }));
        } catch (e) {
          if (e instanceof ProtocolError) throw new Error(`fleet: ${where}: ${e.message}`);
          if (!(e instanceof AbortedAnswerError)) throw e;
          reason = e.message;
          this.#pool.serverFailed(ep, reason);
        }
      } else if (outcome.kind === "http" && outcome.status === 404 && spec.adapter) {
        reason = `${describeOutcome(outcome)} (it lost adapter ${spec.model}: restarted?)`;
        this.#pool.setAside(ep, reason);
      } else if (!retryable(outcome)) {
        throw new Error(
          `fleet: ${where} was refused, ${describeOutcome(outcome)} (not retried: the request is wrong)`,
        );
      } else {
        reason = describeOutcome(outcome);
        if (serverFault(outcome)) this.#pool.serverFailed(ep, reason);
      }
      failedHere.add(ep);
      report.events.push(`${where}: ${reason}`);
      if (attempt >= this.options.retries)
        throw new Error(
          `fleet: prompt ${i}: no answer after ${attempt + 1} attempts; the last: ${where}: ${reason}`,
        );
      report.retries++;
      const backoff = this.options.backoffMs * 2 ** attempt * (0.5 + Math.random());
      await this.#pool.nextChange(signal, Math.min(MAX_BACKOFF_MS, backoff), false);
    }
  }

  /** The completion's text from the tokenizer (cut before a stop string), or null without one. */
  #text(ids: Int32Array, stop: readonly string[]): string | null {
    const tokenizer = this.options.tokenizer;
    if (!tokenizer) return null;
    const text = StopText.forTokenizer(tokenizer, stop);
    for (const id of ids) if (text.push(id)) break;
    text.finish();
    return text.text;
  }

  #open(): void {
    if (this.#pool.closed) throw new Error("fleet: the generator was closed");
  }
}
