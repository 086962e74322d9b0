/**
 * Continuous batching. Sequences are submitted one by one, at any time, each
 * with its own sampling options; a single loop runs the engine (so engine
 * calls are serialized) and, between two decoding steps:
 *
 * 1. drops the sequences whose consumer went away (aborted), freeing their slots;
 * 2. seats waiting sequences, first come first served, in the free slots
 *    (lowest first, so the decoded span stays short), up to maxBatch, and
 *    prefills them together (the others wait for that one prefill); when more
 *    wait than fit, it lets a quarter of the slots free up first, so entrants
 *    are prefilled in groups rather than one by one;
 * 3. decodes one token for every seated sequence in one graph;
 * 4. samples each row with that sequence's options and generator, applies its
 *    stop rules, reports the token to its callback, and frees the slots of
 *    the sequences that finished.
 *
 * When every seated sequence decodes greedily without log-probs, the step's
 * graph returns only each row's argmax (decode-slots.ts), which makes greedy
 * batches much cheaper; otherwise it returns probabilities and JavaScript
 * samples (sampling.ts), as LocalGenerator.generate does.
 *
 * A request arriving while a step computes joins at the next step, not after
 * the whole batch: that is what makes concurrent clients share the engine, and
 * what keeps a GRPO batch of G x prompts from waiting for its longest
 * completion (LocalGenerator.generate submits every sequence here). An engine
 * error fails the sequences seated at that moment (their promises reject) and
 * the loop goes on with the ones still waiting. dispose() ends the loop,
 * rejects every sequence still held, and frees the cache.
 */
import { z } from "zod";
import type { Engine } from "../engine/index.ts";
import type { KvDtype } from "../model/kv-cache.ts";
import type { LlamaConfig, LlamaWeights } from "../model/llama.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { DecodeSlots, type StepOutput } from "./decode-slots.ts";
import { SamplingOptions, sampleToken, sequenceRandom } from "./sampling.ts";
import { StopText } from "./stop-text.ts";
import { greedyToken, type TokenLogprob, topTokens } from "./top-tokens.ts";
import type { Completion, FinishReason } from "./types.ts";

/** Sampling options of one sequence: SamplingOptions without n and seed, plus log-prob reporting. */
export const SequenceOptions = SamplingOptions.omit({ n: true, seed: true }).extend({
  /** Record each token's log-prob (else NaN: a greedy batch without log-probs skips the softmax). */
  logprobs: z.boolean().default(true),
  /** How many of the most likely tokens to report, with their log-probs, at each step (0: none). */
  topLogprobs: z.number().int().min(0).max(20).default(0),
});
export type SequenceOptions = z.output<typeof SequenceOptions>;

export type { TokenLogprob } from "./top-tokens.ts";

/** What a sequence's callback hears after each generated token. */
export interface TokenEvent extends TokenLogprob {
  /** The most likely tokens of that step, most likely first (topLogprobs of them). */
  top: TokenLogprob[];
  /**
   * New text that no later token can change ("" while it may still be the start of a stop string);
   * the pieces of all events, concatenated, are the completion's text.
   */
  text: string;
  /** Set on the sequence's last token. */
  finishReason: FinishReason | null;
}

/** One sequence to generate. */
export interface SequenceRequest {
  prompt: Int32Array;
  options?: z.input<typeof SequenceOptions>;
  /** Its random generator; default sequenceRandom(0, 0) (as sample 0 of LocalGenerator.generate). */
  random?: () => number;
  /** Called after each token (an exception there aborts the sequence). */
  onToken?: (event: TokenEvent) => void;
  /** Aborting it drops the sequence at the next step and rejects its promise with an AbortError. */
  signal?: AbortSignal;
}

/** A finished sequence: the completion, and the top tokens of each step when asked for. */
export interface SequenceResult extends Completion {
  top: TokenLogprob[][];
}

export interface SchedulerOptions {
  /** Sequences decoded together at most. */
  maxBatch: number;
  /** Prompt + completion tokens of one sequence at most (the KV cache's positions per slot). */
  maxPositions: number;
  /** Token ids that end a completion. */
  eosIds: readonly number[];
  /** Needed for text (and so for stop strings); without it, texts are "". */
  tokenizer?: Tokenizer;
  /** Storage type of the KV cache. */
  kvDtype: KvDtype;
}

/** Counters, for tests and monitoring. */
export interface SchedulerStats {
  waiting: number;
  running: number;
  /** Decoding steps run so far (prefills not counted). */
  steps: number;
  /** Tokens generated so far. */
  tokens: number;
  /** Bytes the KV cache holds now, and the most it has held. */
  cacheBytes: number;
  peakCacheBytes: number;
}

/** A submitted sequence while the scheduler holds it. */
interface Live {
  prompt: Int32Array;
  options: SequenceOptions;
  random: () => number;
  text: StopText | null;
  onToken?: (event: TokenEvent) => void;
  ids: number[];
  logprobs: number[];
  top: TokenLogprob[][];
  finish: FinishReason | null;
  aborted: unknown;
  resolve: (r: SequenceResult) => void;
  reject: (err: unknown) => void;
}

export class GenerationScheduler {
  readonly #slots: DecodeSlots;
  readonly #options: SchedulerOptions;
  readonly #vocabSize: number;
  #waiting: Live[] = [];
  /** Seated sequences by slot; null for a free slot. */
  #seated: Array<Live | null> = [];
  #loop: Promise<void> | null = null;
  #steps = 0;
  #tokens = 0;
  #peakCacheBytes = 0;
  /** Set by dispose(): the error every later call throws and every held sequence rejects with. */
  #disposed: Error | null = null;

  constructor(engine: Engine, config: LlamaConfig, weights: LlamaWeights, options: SchedulerOptions) {
    this.#options = options;
    this.#vocabSize = config.vocabSize;
    this.#slots = new DecodeSlots(engine, config, weights, {
      maxSlots: options.maxBatch,
      maxPositions: options.maxPositions,
      dtype: options.kvDtype,
    });
  }

  /** Queues a sequence; resolves when it finishes. Invalid requests reject at once. */
  submit(request: SequenceRequest): Promise<SequenceResult> {
    return new Promise((resolve, reject) => {
      if (this.#disposed) throw this.#disposed;
      const options = SequenceOptions.parse(request.options ?? {});
      this.#check(request.prompt, options);
      const { tokenizer } = this.#options;
      const { signal } = request;
      if (signal?.aborted) throw abortError(signal.reason);
      const onAbort = () => this.#abort(live, signal?.reason);
      const live: Live = {
        prompt: request.prompt,
        options,
        random: request.random ?? sequenceRandom(0, 0),
        text: tokenizer ? StopText.forTokenizer(tokenizer, options.stop) : null,
        onToken: request.onToken,
        ids: [],
        logprobs: [],
        top: [],
        finish: null,
        aborted: undefined,
        resolve: (result) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(result);
        },
        reject: (err) => {
          signal?.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(live);
      this.#kick();
    });
  }

  stats(): SchedulerStats {
    return {
      waiting: this.#waiting.length,
      running: this.#seated.filter((s) => s !== null).length,
      steps: this.#steps,
      tokens: this.#tokens,
      cacheBytes: this.#slots.cacheBytes,
      peakCacheBytes: this.#peakCacheBytes,
    };
  }

  /** Resolves when nothing is waiting or running. */
  async idle(): Promise<void> {
    while (this.#loop) await this.#loop;
  }

  /**
   * Stops the loop after the step computing now, rejects every sequence waiting or running with an
   * error saying so, and frees the KV cache. Later submits throw. Idempotent.
   */
  async dispose(): Promise<void> {
    if (!this.#disposed) {
      this.#disposed = new Error("generate: the generator was disposed");
      const held = [...this.#waiting.splice(0), ...this.#seated];
      this.#seated = [];
      for (const s of held) s?.reject(this.#disposed);
    }
    await this.idle();
    this.#slots.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  #check(prompt: Int32Array, o: SequenceOptions): void {
    if (prompt.length === 0) throw new Error("generate: the prompt is empty");
    for (const t of prompt) {
      if (!(t >= 0 && t < this.#vocabSize))
        throw new Error(`generate: the prompt holds token ${t}, outside the vocabulary (${this.#vocabSize})`);
    }
    if (o.stop.length > 0 && !this.#options.tokenizer)
      throw new Error("generate: stop strings need a tokenizer");
    const need = prompt.length + o.maxTokens;
    if (need > this.#options.maxPositions) {
      throw new Error(
        `generate: ${prompt.length} prompt + ${o.maxTokens} new tokens exceed the ${this.#options.maxPositions} positions of a sequence`,
      );
    }
  }

  #kick(): void {
    if (this.#loop) return;
    this.#loop = this.#run()
      .catch((err) => this.#failAll(err)) // a bug of the loop itself: fail what it holds, stay up
      .finally(() => {
        this.#loop = null;
        if (this.#waiting.length > 0 && !this.#disposed) this.#kick(); // arrived while the loop was ending
      });
  }

  #failAll(err: unknown): void {
    const held = [...this.#seated, ...this.#waiting.splice(0)];
    this.#seated = [];
    for (const s of held) s?.reject(err);
    try {
      this.#slots.release();
    } catch {
      // nothing more to free
    }
  }

  #abort(live: Live, reason: unknown): void {
    if (live.finish !== null || live.aborted !== undefined) return;
    live.aborted = reason ?? true;
    const at = this.#waiting.indexOf(live);
    if (at >= 0) {
      this.#waiting.splice(at, 1);
      live.reject(abortError(reason));
    } // a seated one leaves at the next step boundary (the engine may be computing its row now)
  }

  async #run(): Promise<void> {
    // Let the sequences submitted in the same turn of the event loop enter together.
    await new Promise((resolve) => setImmediate(resolve));
    while (!this.#disposed && (this.#waiting.length > 0 || this.#seated.length > 0)) {
      try {
        this.#leave();
        const entering = this.#seat();
        if (entering.length > 0) await this.#prefill(entering);
        this.#leave();
        if (this.#seated.length > 0) await this.#step();
        this.#leave();
      } catch (err) {
        // an engine error: the seated sequences fail, the waiting ones get a fresh cache
        for (const s of this.#seated) s?.reject(err);
        this.#seated = [];
        this.#slots.release();
      }
    }
    this.#slots.release();
  }

  /**
   * Seats waiting sequences in free slots (first come first served) and makes room in the cache.
   * When more sequences wait than slots are free (a GRPO batch, an overloaded server), it waits
   * until a quarter of the slots are free and prefills those entrants together: one prefill graph
   * per sequence cost as much as a decoding step of the whole batch on the demo's model.
   */
  #seat(): Array<{ live: Live; slot: number }> {
    const entering: Array<{ live: Live; slot: number }> = [];
    const occupied = this.#seated.filter((s) => s !== null).length;
    const free = this.#options.maxBatch - occupied;
    if (occupied > 0 && this.#waiting.length > free && free < Math.ceil(this.#options.maxBatch / 4)) {
      return entering;
    }
    while (this.#waiting.length > 0) {
      let slot = this.#seated.indexOf(null);
      if (slot < 0) slot = this.#seated.length;
      if (slot >= this.#options.maxBatch) break;
      const live = this.#waiting.shift() as Live;
      this.#seated[slot] = live;
      entering.push({ live, slot });
    }
    return entering;
  }

  /** Prefills entering sequences together (whatever their slots) and takes their first token. */
  async #prefill(entering: Array<{ live: Live; slot: number }>): Promise<void> {
    const run = entering.map((e) => e.live);
    // room for the prompts now; positions are added as the sequences lengthen (#step)
    await this.#reserve(Math.max(...run.map((s) => s.prompt.length)));
    const out = await this.#slots.prefill(
      entering.map((e) => e.slot),
      run.map((s) => s.prompt),
      run.some(needsProbs) ? Float32Array.from(run, (s) => scaleOf(s.options, run)) : null,
    );
    if (this.#disposed) return; // its sequences were rejected meanwhile
    for (const [i, s] of run.entries()) this.#accept(s, out, i);
  }

  /** One decoding step for every seated sequence. */
  async #step(): Promise<void> {
    const seated = this.#seated.slice();
    const rows = seated.map((s) =>
      s ? { token: s.ids[s.ids.length - 1], position: s.prompt.length + s.ids.length - 1 } : null,
    );
    const scales = seated.some((s) => s !== null && needsProbs(s))
      ? Float32Array.from(seated, (s) => scaleOf(s?.options ?? null, seated))
      : null;
    await this.#reserve(Math.max(...rows.map((r) => (r?.position ?? 0) + 1)));
    const out = await this.#slots.decode(rows, scales);
    if (this.#disposed) return; // its sequences were rejected meanwhile
    this.#steps++;
    seated.forEach((s, b) => {
      if (s && s.finish === null && s.aborted === undefined) this.#accept(s, out, b);
    });
  }

  /**
   * Makes the cache hold every seated slot and `positions` positions per slot, growing it toward
   * what the seated sequences can reach (prompt + max tokens) at most.
   */
  async #reserve(positions: number): Promise<void> {
    const reach = Math.max(...this.#seated.map((s) => (s ? s.prompt.length + s.options.maxTokens : 0)));
    await this.#slots.reserve(this.#seated.length, positions, reach);
    this.#peakCacheBytes = Math.max(this.#peakCacheBytes, this.#slots.cacheBytes);
  }

  /** Takes the next token of `s` from row `b` of a step, applies the stop rules and reports it. */
  #accept(s: Live, out: StepOutput, b: number): void {
    const o = s.options;
    let token: number;
    let logprob = Number.NaN;
    let top: TokenLogprob[] = [];
    if (out.kind === "argmax") {
      token = out.argmax[b];
    } else {
      const V = this.#vocabSize;
      const row = out.probs.subarray(b * V, (b + 1) * V);
      token = o.temperature === 0 ? greedyToken(row) : sampleToken(row, o, s.random).token;
      if (o.logprobs) logprob = Math.fround(Math.log(row[token])); // as stored in the result's Float32Array
      if (o.topLogprobs > 0) top = topTokens(row, o.topLogprobs);
    }
    s.ids.push(token);
    s.logprobs.push(logprob);
    if (o.topLogprobs > 0) s.top.push(top);
    this.#tokens++;
    const stopped = s.text?.push(token) ?? false;
    if (this.#options.eosIds.includes(token) || stopped) s.finish = "stop";
    else if (s.ids.length >= o.maxTokens) s.finish = "length";
    if (s.finish !== null) s.text?.finish();
    const text = s.text?.take(s.finish !== null) ?? "";
    try {
      s.onToken?.({ token, logprob, top, text, finishReason: s.finish });
    } catch (err) {
      if (s.finish === null) s.aborted = err;
    }
  }

  /** Frees the slots of finished and aborted sequences and settles their promises. */
  #leave(): void {
    this.#seated.forEach((s, slot) => {
      if (!s) return;
      if (s.aborted !== undefined) {
        this.#seated[slot] = null;
        s.reject(abortError(s.aborted));
      } else if (s.finish !== null) {
        this.#seated[slot] = null;
        s.resolve({
          ids: Int32Array.from(s.ids),
          text: s.text?.text ?? "",
          logprobs: Float32Array.from(s.logprobs),
          finishReason: s.finish,
          top: s.top,
        });
      }
    });
    while (this.#seated.length > 0 && this.#seated[this.#seated.length - 1] === null) this.#seated.pop();
  }
}

/** Whether a sequence needs its step's probabilities (to sample, or to report log-probs). */
function needsProbs(s: Live): boolean {
  return s.options.temperature > 0 || s.options.logprobs || s.options.topLogprobs > 0;
}

/**
 * The logit scale of a row of a step over `rows`: 1 / temperature, or 1 for greedy decoding. A free
 * slot (null) takes the scale of the step's first sequence, so that a step whose sequences share a
 * temperature scales all its rows alike (decode-slots.ts: one softmax scale, no per-row scales).
 */
function scaleOf(o: SequenceOptions | null, rows: ReadonlyArray<Live | null>): number {
  const options = o ?? rows.find((s) => s !== null)?.options;
  return options && options.temperature > 0 ? 1 / options.temperature : 1;
}

/** The error an aborted sequence's promise rejects with. */
export function abortError(reason: unknown): Error {
  if (reason instanceof Error && reason.name === "AbortError") return reason;
  const err = new Error("the sequence was aborted", { cause: reason });
  err.name = "AbortError";
  return err;
}
