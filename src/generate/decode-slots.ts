/**
 * The engine side of continuous batching: a KV cache of sequence slots that
 * sequences enter (prefill) and leave between decoding steps, and the step
 * graphs over it. The scheduler (scheduler.ts) decides who sits where; this
 * file only runs the graphs. It is the only decode loop's engine: the server's
 * requests and LocalGenerator.generate (GRPO's rollouts) both run here.
 *
 * - The cache grows on demand, keeping what it holds: more slots as sequences
 *   are seated, more positions per slot as the longest sequence lengthens
 *   (blocks of 64 positions, at least half again what it had, never past what
 *   the seated sequences can reach), so memory follows the tokens generated,
 *   not prompt + max tokens up front. It is freed when the scheduler is idle.
 * - A prefill puts any set of entering prompts, whatever slots they were
 *   given, in one graph (a prompt attends only to itself, so the graph reads
 *   its keys and values from its own nodes and only writes them to the cache).
 * - A decode step runs over slots [0, span): occupied slots advance their
 *   sequence by one token; free slots inside the span compute a dummy token at
 *   position 0 of their own slot (harmless: a sequence entering a slot
 *   prefills positions 0.. before it reads any of them).
 * - A step returns one of two things. "probs": each row's next-token
 *   probabilities, softmax(logits / T), for JavaScript to sample from.
 *   "argmax": only each row's most likely token, when every row decodes
 *   greedily and nobody asked for log-probs; the softmax over the vocabulary
 *   and copying B x V floats out of the graph are then skipped: a B = 64 step
 *   of the 23.5M bench model (V 151,669) takes 46-60 ms so, 100-113 ms with
 *   probabilities (2 cores).
 * - Temperatures: when every row of a step has the same temperature (always,
 *   in GRPO's rollouts), the softmax scales the logits by 1 / T itself. When
 *   rows differ (a server's mixed requests), each row's final hidden state is
 *   multiplied by a [B, 1, 1] input of 1 / T before the output projection,
 *   which scales that row's logits: one graph serves the mixed batch (grouping
 *   rows by temperature would cost a pass through the model per group;
 *   scaling the [B, V] logits instead added ~35 ms per step at B = 64, ggml's
 *   broadcast multiply going element by element, while scaling [B, C] costs
 *   nothing measurable). The two round differently (~1e-7 relative in the
 *   probabilities), so a sequence's probabilities can differ in the last bits
 *   between a uniform and a mixed batch; so can they between batches of other
 *   sizes (matrix products of 32 rows or more go to BLAS).
 */
import type { Engine, Graph, Tensor } from "../engine/index.ts";
import { CachedInputs, type CachedStep, cachedLogits, KvCache, type KvDtype } from "../model/kv-cache.ts";
import type { LlamaConfig, LlamaWeights } from "../model/llama.ts";

/** How large the cache may grow, and how it stores keys and values. */
export interface SlotLimits {
  /** Sequences decoded together at most. */
  maxSlots: number;
  /** Positions per slot at most (prompt + completion). */
  maxPositions: number;
  /** Storage type of the cache. */
  dtype: KvDtype;
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

/**
 * What a step graph returns: the argmax, or probabilities with one logit scale for every row
 * (`scale`), or with a scale per row (`scale: "rows"`, a [B, 1, 1] input).
 */
type Output = { kind: "argmax" } | { kind: "probs"; scale: number | "rows" };

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

  /** Bytes the cache holds now. */
  get cacheBytes(): number {
    return this.#cache?.bytes ?? 0;
  }

  /**
   * Makes the cache hold at least `slots` slots of `positions` positions, keeping its contents.
   * Slots grow geometrically; positions by at least half again, in blocks of 64, but never past
   * `reach` (the most positions the seated sequences can use), so arrivals one by one and sequences
   * lengthening token by token cost few copies.
   */
  async reserve(slots: number, positions: number, reach = this.limits.maxPositions): Promise<void> {
    const { maxSlots, maxPositions } = this.limits;
    if (slots > maxSlots || positions > maxPositions) {
      throw new Error(
        `decode slots: ${slots} slots of ${positions} positions exceed the limits (${maxSlots} of ${maxPositions})`,
      );
    }
    const old = this.#cache;
    if (old && old.batch >= slots && old.capacity >= positions) return;
    // slots: doubling, up to maxSlots
    const batch =
      old && old.batch >= slots ? old.batch : Math.min(maxSlots, Math.max(slots, 2 * (old?.batch ?? 0)));
    // positions: half again, but not past what the seated sequences reach, in whole buckets (so the
    // keys a decode step reads, a whole bucket, never depend on who else is seated)
    const have = old?.capacity ?? 0;
    const want =
      have >= positions ? have : Math.max(positions, Math.min(Math.max(reach, positions), 1.5 * have));
    const capacity = Math.min(maxPositions, Math.ceil(want / POSITION_BUCKET) * POSITION_BUCKET);
    // graphs read the cache's tensors, which growing replaces
    this.#decode?.free();
    this.#decode = null;
    if (old) await old.grow(batch, capacity);
    else this.#cache = new KvCache(this.engine, this.config, batch, capacity, this.limits.dtype);
  }

  /**
   * Prefills prompts into the given slots, any distinct ones (right-padded, at most 4,096 tokens per
   * graph). With `scales` (1 / temperature per row), returns each row's next-token probabilities;
   * with null, each row's most likely next token.
   */
  async prefill(
    slots: readonly number[],
    prompts: readonly Int32Array[],
    scales: Float32Array | null,
  ): Promise<StepOutput> {
    const cache = this.#need(Math.max(...slots) + 1, Math.max(...prompts.map((p) => p.length)));
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
      const rowScales = scales?.subarray(start, end) ?? null;
      const step = new ScaledStep(this, cache, B, T, T, true, outputOf(rowScales));
      try {
        const rows = Int32Array.from(slots.slice(start, end));
        const out = await step.run({ slots: rows, B, T, ids, positions, used: T, lengths }, rowScales);
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
    const output = outputOf(scales);
    let step = this.#decode;
    if (!step || step.inputs.B !== B || step.inputs.used !== bucket || !sameOutput(step.output, output)) {
      this.#decode?.free();
      this.#decode = null;
      step = new ScaledStep(this, cache, B, 1, bucket, false, output);
      this.#decode = step;
    }
    const slots = Int32Array.from({ length: B }, (_, b) => b);
    return step.run({ slots, B, T: 1, ids, positions, used }, scales);
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

/** The output a step with these row scales needs (null: argmax). */
function outputOf(scales: Float32Array | null): Output {
  if (!scales) return { kind: "argmax" };
  return scales.every((s) => s === scales[0])
    ? { kind: "probs", scale: scales[0] }
    : { kind: "probs", scale: "rows" };
}

function sameOutput(a: Output, b: Output): boolean {
  return a.kind === "argmax" ? b.kind === "argmax" : b.kind === "probs" && a.scale === b.scale;
}

/**
 * A step graph over persistent inputs (tokens, positions, mask, and per-row scales when its rows'
 * temperatures differ), computed again and again.
 */
class ScaledStep {
  readonly inputs: CachedInputs;
  readonly #scales: Tensor | null; // f32 [B, 1, 1]: 1 / temperature of each row
  readonly #graph: Graph;

  constructor(
    slots: DecodeSlots,
    cache: KvCache,
    B: number,
    T: number,
    used: number,
    prefill: boolean,
    readonly output: Output,
  ) {
    const { engine, config, weights } = slots;
    this.inputs = new CachedInputs(engine, cache, B, T, used, prefill);
    const perRow = output.kind === "probs" && output.scale === "rows";
    this.#scales = perRow ? engine.tensor([B, 1, 1], { name: "row scales" }) : null;
    let g: Graph | null = null;
    try {
      g = engine.graph({ name: T === 1 ? "batched decode step" : "batched prefill" });
      const scaled = this.#scales ?? undefined;
      const { logits, writes } = cachedLogits(g, config, weights, cache, this.inputs, true, scaled); // [B, 1, V]
      const rows = g.reshape(logits, [B, config.vocabSize]); // [B, V]
      const scale = output.kind === "probs" && output.scale !== "rows" ? output.scale : 1;
      const out = output.kind === "probs" ? g.softmax(rows, { scale }) : g.argmax(rows); // [B, V] or [B]
      g.build({ outputs: [out], effects: writes });
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
      if (!scales) throw new Error("decode slots: a step with per-row temperatures needs its row scales");
      this.#scales.write(scales);
    }
    const [out] = await this.#graph.compute();
    return this.output.kind === "probs"
      ? { kind: "probs", probs: out as Float32Array }
      : { kind: "argmax", argmax: out as Int32Array };
  }

  free(): void {
    this.#graph.free();
    this.inputs.free();
    this.#scales?.free();
  }
}
