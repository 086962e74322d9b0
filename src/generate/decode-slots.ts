/**
 * The engine side of continuous batching: a KV cache of sequence slots that
 * sequences enter (prefill) and leave between decoding steps, and the step
 * graphs over it. The scheduler (scheduler.ts) decides who sits where; this
 * file only runs the graphs.
 *
 * - The cache grows on demand (more slots, more positions per slot), keeping
 *   what it holds, up to the limits; it is freed when the scheduler is idle.
 * - A decode step runs over slots [0, span): occupied slots advance their
 *   sequence by one token; free slots inside the span compute a dummy token at
 *   position 0 of their own slot (harmless: a sequence entering a slot
 *   prefills positions 0.. before it reads any of them).
 * - A step returns one of two things. "probs": each row's next-token
 *   probabilities, softmax(logits / T) with the row's own temperature, for
 *   JavaScript to sample from. "argmax": only each row's most likely token,
 *   when every row decodes greedily and nobody asked for log-probs; the
 *   softmax over the vocabulary and copying B x V floats out of the graph are
 *   then skipped: a B = 64 step of the 23.5M bench model (V 151,669) takes
 *   46-60 ms so, 100-113 ms with probabilities (2 cores).
 * - Per-row temperature: each row's final hidden state is multiplied by a
 *   [B, 1, 1] input of 1 / T (1 for greedy rows) before the output
 *   projection, which scales that row's logits. One graph thus serves a batch
 *   of mixed temperatures; grouping rows by temperature would cost a pass
 *   through the model per group. Scaling the [B, V] logits instead added
 *   ~35 ms per step at B = 64 (ggml's broadcast multiply goes element by
 *   element); scaling the [B, C] hidden state costs nothing measurable (a
 *   step with probabilities: 100-113 ms scaled, 101-111 ms unscaled). A
 *   scale of 1 is exact, so greedy and temperature-1 rows compute what
 *   LocalGenerator.generate computes (batches of other shapes round
 *   differently, ~1e-6 in log-probs); other temperatures differ by rounding.
 */
import type { Engine, Graph, Tensor } from "../engine/index.ts";
import { CachedInputs, type CachedStep, cachedLogits, KvCache } from "../model/kv-cache.ts";
import { headDim, type LlamaConfig, type LlamaWeights } from "../model/llama.ts";

/** How large the cache may grow. */
export interface SlotLimits {
  /** Sequences decoded together at most. */
  maxSlots: number;
  /** Positions per slot at most (prompt + completion). */
  maxPositions: number;
}

/** One occupied row of a decode step: the token to feed and the position it takes. */
export interface DecodeRow {
  token: number;
  position: number;
}

/**
 * What a step gives for each row: the next-token probabilities (rows x V, row-major), or, for
 * greedy steps, only the most likely token (the last one on exact ties: ggml's argmax).
 */
export type StepOutput = { kind: "probs"; probs: Float32Array } | { kind: "argmax"; argmax: Int32Array };

/** Prompt tokens (padding included) prefilled in one graph at most. */
const PREFILL_TOKENS = 4096;

/** Positions read by decode graphs, and cache capacities, go in steps of this many. */
const POSITION_BUCKET = 64;

export class DecodeSlots {
  #cache: KvCache | null = null;
  #decode: ScaledStep | null = null;

  constructor(
    readonly engine: Engine,
    readonly config: LlamaConfig,
    readonly weights: LlamaWeights,
    readonly limits: SlotLimits,
  ) {}

  /** Slots the cache holds now (0 before the first reserve and after release). */
  get slots(): number {
    return this.#cache?.batch ?? 0;
  }

  /** Positions per slot the cache holds now. */
  get capacity(): number {
    return this.#cache?.capacity ?? 0;
  }

  /**
   * Makes the cache hold at least `slots` slots of `positions` positions, keeping its contents.
   * It grows geometrically (and positions in buckets of 64), so arrivals one by one cost few copies.
   */
  reserve(slots: number, positions: number): void {
    const { maxSlots, maxPositions } = this.limits;
    if (slots > maxSlots || positions > maxPositions) {
      throw new Error(
        `decode slots: ${slots} slots of ${positions} positions exceed the limits (${maxSlots} of ${maxPositions})`,
      );
    }
    const old = this.#cache;
    if (old && old.batch >= slots && old.capacity >= positions) return;
    const grow = (have: number, need: number, max: number, step: number) =>
      have >= need ? have : Math.min(max, Math.ceil(Math.max(need, 2 * have) / step) * step);
    const cache = new KvCache(
      this.engine,
      this.config,
      grow(old?.batch ?? 0, slots, maxSlots, 1),
      grow(old?.capacity ?? 0, positions, maxPositions, POSITION_BUCKET),
    );
    if (old) {
      copyCache(old, cache, this.config);
      old.free();
    }
    this.#decode?.free();
    this.#decode = null;
    this.#cache = cache;
  }

  /**
   * Prefills prompts into the consecutive slots from `slot` (right-padded, at most 4,096 tokens per
   * graph). With `scales` (1 / temperature per row), returns each row's next-token probabilities;
   * with null, each row's most likely next token.
   */
  async prefill(
    slot: number,
    prompts: readonly Int32Array[],
    scales: Float32Array | null,
  ): Promise<StepOutput> {
    const cache = this.#need(slot + prompts.length, Math.max(...prompts.map((p) => p.length)));
    const V = this.config.vocabSize;
    const probs = new Float32Array(scales ? prompts.length * V : 0);
    const argmax = new Int32Array(prompts.length);
    for (let start = 0; start < prompts.length; ) {
      let end = start + 1;
      let T = prompts[start].length;
      while (end < prompts.length && Math.max(T, prompts[end].length) * (end + 1 - start) <= PREFILL_TOKENS) {
        T = Math.max(T, prompts[end].length);
        end++;
      }
      const group = prompts.slice(start, end);
      const B = group.length;
      const ids = new Int32Array(B * T);
      const positions = new Int32Array(B * T);
      for (const [b, p] of group.entries()) {
        ids.set(p, b * T);
        for (let t = 0; t < T; t++) positions[b * T + t] = t;
      }
      const lengths = Int32Array.from(group, (p) => p.length);
      const step = new ScaledStep(this, cache, slot + start, B, T, T, scales !== null);
      try {
        const out = await step.run(
          { slot: slot + start, B, T, ids, positions, used: T, lengths },
          scales?.subarray(start, end) ?? null,
        );
        if (out.kind === "probs") probs.set(out.probs, start * V);
        else argmax.set(out.argmax, start);
      } finally {
        step.free();
      }
      start = end;
    }
    return scales ? { kind: "probs", probs } : { kind: "argmax", argmax };
  }

  /**
   * One decoding step over slots [0, rows.length): each occupied row feeds its token at its
   * position; null rows are free slots. `scales` as for prefill. The graph is kept and reused
   * while the span, the bucket of positions read and the kind of output stay the same.
   */
  async decode(rows: ReadonlyArray<DecodeRow | null>, scales: Float32Array | null): Promise<StepOutput> {
    const B = rows.length;
    const ids = Int32Array.from(rows, (r) => r?.token ?? 0);
    const positions = Int32Array.from(rows, (r) => r?.position ?? 0);
    const used = Math.max(...positions) + 1;
    const cache = this.#need(B, used);
    const bucket = Math.min(cache.capacity, Math.ceil(used / POSITION_BUCKET) * POSITION_BUCKET);
    let step = this.#decode;
    if (!step || step.inputs.B !== B || step.inputs.used !== bucket || step.probs !== (scales !== null)) {
      this.#decode?.free();
      this.#decode = null;
      step = new ScaledStep(this, cache, 0, B, 1, bucket, scales !== null);
      this.#decode = step;
    }
    return step.run({ slot: 0, B, T: 1, ids, positions, used }, scales);
  }

  /** Frees the cache and graphs (the next reserve allocates afresh). */
  release(): void {
    this.#decode?.free();
    this.#decode = null;
    this.#cache?.free();
    this.#cache = null;
  }

  /** The cache, checked to hold `slots` slots of `positions` positions (reserve must have made room). */
  #need(slots: number, positions: number): KvCache {
    const cache = this.#cache;
    if (!cache || cache.batch < slots || cache.capacity < positions) {
      throw new Error(
        `decode slots: a step needs ${slots} slots of ${positions} positions; the cache has ` +
          `${cache?.batch ?? 0} of ${cache?.capacity ?? 0} (call reserve first)`,
      );
    }
    return cache;
  }
}

/**
 * A step graph over persistent inputs (tokens, positions, mask, and per-row scales when it returns
 * probabilities), computed again and again.
 */
class ScaledStep {
  readonly inputs: CachedInputs;
  readonly #scales: Tensor | null; // f32 [B, 1, 1]: 1 / temperature of each row
  readonly #graph: Graph;

  constructor(
    slots: DecodeSlots,
    cache: KvCache,
    slot: number,
    B: number,
    T: number,
    used: number,
    /** Return probabilities (else the argmax of the logits). */
    readonly probs: boolean,
  ) {
    const { engine, config, weights } = slots;
    this.inputs = new CachedInputs(engine, cache, slot, B, T, used);
    this.#scales = probs ? engine.tensor([B, 1, 1], { name: "row scales" }) : null;
    let g: Graph | null = null;
    try {
      g = engine.graph({ name: T === 1 ? "batched decode step" : "batched prefill" });
      const scale = this.#scales ?? undefined;
      const logits = cachedLogits(g, config, weights, cache, this.inputs, true, scale); // [B, 1, V]
      const rows = g.reshape(logits, [B, config.vocabSize]); // [B, V]
      g.build({ outputs: [probs ? g.softmax(rows) : g.argmax(rows)] });
    } catch (err) {
      g?.free();
      this.inputs.free();
      this.#scales?.free();
      throw err;
    }
    this.#graph = g;
  }

  async run(step: CachedStep, scales: Float32Array | null): Promise<StepOutput> {
    this.inputs.write(step);
    if (this.#scales) {
      if (!scales) throw new Error("decode slots: a probabilities step needs its row scales");
      this.#scales.write(scales);
    }
    const [out] = await this.#graph.compute();
    return this.probs
      ? { kind: "probs", probs: out as Float32Array }
      : { kind: "argmax", argmax: out as Int32Array };
  }

  free(): void {
    this.#graph.free();
    this.inputs.free();
    this.#scales?.free();
  }
}

/** Copies every slot's keys and values from a cache into a larger one (host memory, f32). */
function copyCache(from: KvCache, to: KvCache, config: LlamaConfig): void {
  const D = headDim(config);
  const heads = from.batch * config.kvHeads; // (slot, kv head) pairs held by `from`
  const [S, S2] = [from.capacity, to.capacity];
  for (let l = 0; l < config.layers; l++) {
    // keys: per (slot, head), S rows of D
    const keys = from.keys[l].view() as Float32Array;
    const newKeys = new Float32Array(to.keys[l].size);
    for (let h = 0; h < heads; h++) newKeys.set(keys.subarray(h * S * D, (h + 1) * S * D), h * S2 * D);
    to.keys[l].write(newKeys);
    // values (transposed): per (slot, head, dim), a row of S positions
    const values = from.values[l].view() as Float32Array;
    const newValues = new Float32Array(to.values[l].size);
    for (let r = 0; r < heads * D; r++) newValues.set(values.subarray(r * S, (r + 1) * S), r * S2);
    to.values[l].write(newValues);
  }
}
