/**
 * Generation with the local engine: a KV cache, prompts of different lengths
 * prefilled together (right-padded), then every sequence of the batch decoded
 * one token per step in a single graph.
 *
 * Two ways in: generate() runs a fixed set of prompts with one set of sampling
 * options (GRPO's rollouts); submit() and generateEach() give each sequence its
 * own options and share the engine by continuous batching (scheduler.ts):
 * sequences join and leave the decoded batch between steps (the server).
 */
import { z } from "zod";
import type { Engine, Graph } from "../engine/index.ts";
import { CachedInputs, type CachedStep, cachedLogits, KvCache } from "../model/kv-cache.ts";
import type { LlamaConfig, LlamaWeights } from "../model/llama.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { SamplingOptions, sampleToken, sequenceRandom } from "./sampling.ts";
import {
  GenerationScheduler,
  type SchedulerStats,
  type SequenceOptions,
  type SequenceRequest,
  type SequenceResult,
  type TokenEvent,
} from "./scheduler.ts";
import type { Completion, FinishReason, Generator } from "./types.ts";

export const LocalGeneratorOptions = z.object({
  /** Sequences decoded together (prompts x samples are split into batches of this size). */
  maxBatch: z.number().int().positive().default(32),
  /** Token ids that end a completion (the model's EOS ids). */
  eosIds: z.array(z.number().int()).default([]),
  /** submit/generateEach: prompt + completion tokens of one sequence at most (the cache grows to it). */
  maxPositions: z.number().int().positive().default(32768),
});

/** One request of generateEach: a prompt with its own sampling options (n samples of it). */
export interface EachRequest {
  prompt: Int32Array;
  options?: z.input<typeof SamplingOptions> & Partial<Pick<SequenceOptions, "topLogprobs" | "logprobs">>;
}

/** Callbacks of generateEach. */
export interface EachHooks {
  /** After each token of sample `sample` of request `request`. */
  onToken?: (request: number, sample: number, event: TokenEvent) => void;
  /** Aborting it stops every sequence of the call (the promise rejects with an AbortError). */
  signal?: AbortSignal;
}

/** One sequence being generated: sample `sample` of prompt `prompt`. */
interface Sequence {
  prompt: number;
  sample: number;
  promptIds: Int32Array;
  random: () => number;
  ids: number[];
  logprobs: number[];
  finish: FinishReason | null;
  text: string;
}

export class LocalGenerator implements Generator {
  readonly options: z.output<typeof LocalGeneratorOptions>;
  #scheduler: GenerationScheduler | null = null;

  constructor(
    readonly engine: Engine,
    readonly config: LlamaConfig,
    readonly weights: LlamaWeights,
    options: z.input<typeof LocalGeneratorOptions> = {},
    readonly tokenizer?: Tokenizer,
  ) {
    this.options = LocalGeneratorOptions.parse(options);
  }

  async generate(
    prompts: Int32Array[],
    options: z.input<typeof SamplingOptions> = {},
  ): Promise<Completion[][]> {
    const o = SamplingOptions.parse(options);
    if (o.stop.length > 0 && !this.tokenizer) throw new Error("generate: stop strings need a tokenizer");
    prompts.forEach((p, i) => {
      if (p.length === 0) throw new Error(`generate: prompt ${i} is empty`);
      for (const t of p) {
        if (!(t >= 0 && t < this.config.vocabSize)) {
          throw new Error(
            `generate: prompt ${i} holds token ${t}, outside the vocabulary (${this.config.vocabSize})`,
          );
        }
      }
    });
    const sequences: Sequence[] = prompts.flatMap((promptIds, prompt) =>
      Array.from({ length: o.n }, (_, sample) => ({
        prompt,
        sample,
        promptIds,
        random: sequenceRandom(o.seed, prompt * o.n + sample),
        ids: [],
        logprobs: [],
        finish: null,
        text: "",
      })),
    );
    for (let i = 0; i < sequences.length; i += this.options.maxBatch) {
      await this.#runBatch(sequences.slice(i, i + this.options.maxBatch), o);
    }
    const out = prompts.map(() => [] as Completion[]);
    for (const s of sequences) {
      out[s.prompt][s.sample] = {
        ids: Int32Array.from(s.ids),
        text: s.text,
        logprobs: Float32Array.from(s.logprobs),
        finishReason: s.finish ?? "length",
      };
    }
    return out;
  }

  /**
   * Queues one sequence with its own options; it is decoded together with every other sequence
   * submitted meanwhile (continuous batching, up to maxBatch at a time). Engine calls stay
   * serialized; do not run generate() on the same engine at the same time.
   */
  submit(request: SequenceRequest): Promise<SequenceResult> {
    this.#scheduler ??= new GenerationScheduler(this.engine, this.config, this.weights, {
      maxBatch: this.options.maxBatch,
      maxPositions: this.options.maxPositions,
      eosIds: this.options.eosIds,
      tokenizer: this.tokenizer,
    });
    return this.#scheduler.submit(request);
  }

  /**
   * n completions of each request, each request with its own sampling options (temperature,
   * top-p/k, min-p, max tokens, stop strings, seed, n, top log-probs): result[request][sample].
   * Sample j of a request draws from sequenceRandom(seed, j), so a request alone gives what
   * generate([prompt], options) gives. All sequences are submitted at once (see submit).
   */
  async generateEach(requests: readonly EachRequest[], hooks: EachHooks = {}): Promise<SequenceResult[][]> {
    const calls = requests.map(({ prompt, options = {} }, r) => {
      const { n, seed, ...rest } = SamplingOptions.parse(options);
      return Array.from({ length: n }, (_, j) =>
        this.submit({
          prompt,
          options: { ...rest, topLogprobs: options.topLogprobs ?? 0, logprobs: options.logprobs ?? true },
          random: sequenceRandom(seed, j),
          onToken: hooks.onToken && ((event) => hooks.onToken?.(r, j, event)),
          signal: hooks.signal,
        }),
      );
    });
    return Promise.all(calls.map((samples) => Promise.all(samples)));
  }

  /** Resolves when the continuous batch has nothing waiting or running (its KV cache is then freed). */
  async idle(): Promise<void> {
    await this.#scheduler?.idle();
  }

  /** Sequences waiting and running in the continuous batch, and its step and token counts. */
  stats(): SchedulerStats {
    return this.#scheduler?.stats() ?? { waiting: 0, running: 0, steps: 0, tokens: 0 };
  }

  async #runBatch(batch: Sequence[], o: SamplingOptions): Promise<void> {
    const longest = Math.max(...batch.map((s) => s.promptIds.length));
    const cache = new KvCache(this.engine, this.config, batch.length, longest + o.maxTokens);
    try {
      // Prefill: consecutive slots, right-padded to their longest prompt, PREFILL_TOKENS at a time.
      // (Padding writes cache positions that decoding overwrites before any token reads them.)
      const rows = Math.max(1, Math.floor(PREFILL_TOKENS / longest));
      for (let start = 0; start < batch.length; start += rows) {
        const group = batch.slice(start, start + rows);
        const T = Math.max(...group.map((s) => s.promptIds.length));
        const ids = new Int32Array(group.length * T);
        const positions = new Int32Array(group.length * T);
        for (const [b, s] of group.entries()) {
          ids.set(s.promptIds, b * T);
          for (let t = 0; t < T; t++) positions[b * T + t] = t;
        }
        const lengths = Int32Array.from(group, (s) => s.promptIds.length);
        const prefill = new StepGraph(this, cache, start, group.length, T, T, o.temperature);
        try {
          const probs = await prefill.run({
            slot: start,
            B: group.length,
            T,
            ids,
            positions,
            used: T,
            lengths,
          });
          for (const [b, s] of group.entries()) this.#accept(s, probs.subarray(b * this.config.vocabSize), o);
        } finally {
          prefill.free();
        }
      }
      // Decode: every slot advances one token per step; finished ones repeat their last write.
      // The step graph is reused until the keys read outgrow it, then rebuilt a bucket larger.
      let decode: StepGraph | null = null;
      try {
        while (batch.some((s) => s.finish === null)) {
          const ids = Int32Array.from(batch, (s) => s.ids[s.ids.length - 1]);
          const positions = Int32Array.from(batch, (s) => s.promptIds.length + s.ids.length - 1);
          const used = Math.max(...positions) + 1;
          if (!decode || used > decode.inputs.used) {
            decode?.free();
            const bucket = Math.min(cache.capacity, Math.ceil(used / DECODE_BUCKET) * DECODE_BUCKET);
            decode = new StepGraph(this, cache, 0, batch.length, 1, bucket, o.temperature);
          }
          const probs = await decode.run({ slot: 0, B: batch.length, T: 1, ids, positions, used });
          for (const [b, s] of batch.entries()) {
            if (s.finish === null) this.#accept(s, probs.subarray(b * this.config.vocabSize), o);
          }
        }
      } finally {
        decode?.free();
      }
    } finally {
      cache.free();
    }
    if (this.tokenizer) for (const s of batch) s.text = this.#text(s, o).text;
  }

  /** Samples the next token of `s` from its probabilities and applies the stop rules. */
  #accept(s: Sequence, probs: Float32Array, o: SamplingOptions): void {
    const { token, logprob } = sampleToken(probs.subarray(0, this.config.vocabSize), o, s.random);
    s.ids.push(token);
    s.logprobs.push(logprob);
    if (this.options.eosIds.includes(token)) s.finish = "stop";
    else if (o.stop.length > 0 && this.#text(s, o).stopped) s.finish = "stop";
    else if (s.ids.length >= o.maxTokens) s.finish = "length";
  }

  /** The completion's text, cut before the first stop string. */
  #text(s: Sequence, o: SamplingOptions): { text: string; stopped: boolean } {
    const full = this.tokenizer?.decode(Int32Array.from(s.ids), { skipSpecialTokens: true }) ?? "";
    let cut = full.length;
    for (const stop of o.stop) {
      const at = full.indexOf(stop);
      if (at >= 0) cut = Math.min(cut, at);
    }
    return { text: full.slice(0, cut), stopped: cut < full.length };
  }
}

/** Prompt tokens (padding included) prefilled in one graph at most. */
const PREFILL_TOKENS = 4096;

/** Keys read by decode graphs grow in buckets of this many positions (a graph is rebuilt per bucket). */
const DECODE_BUCKET = 64;

/** A built step graph over persistent inputs: write a step, compute, read the next-token probabilities. */
class StepGraph {
  readonly inputs: CachedInputs;
  readonly #graph: Graph;

  constructor(
    gen: LocalGenerator,
    cache: KvCache,
    slot: number,
    B: number,
    T: number,
    used: number,
    temperature: number,
  ) {
    this.inputs = new CachedInputs(gen.engine, cache, slot, B, T, used);
    const g = gen.engine.graph({ name: "decode step" });
    const logits = cachedLogits(g, gen.config, gen.weights, cache, this.inputs, true); // [B, 1, V]
    const scale = temperature > 0 ? 1 / temperature : 1;
    g.build({ outputs: [g.softmax(g.reshape(logits, [B, gen.config.vocabSize]), { scale })] });
    this.#graph = g;
  }

  /** Temperature-scaled probabilities of each row's next token, [B * V]. */
  async run(step: CachedStep): Promise<Float32Array> {
    this.inputs.write(step);
    const [values] = await this.#graph.compute();
    return values as Float32Array;
  }

  free(): void {
    this.#graph.free();
    this.inputs.free();
  }
}
