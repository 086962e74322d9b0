/**
 * Key/value cache for decoding, and the Llama-style forward pass that reads
 * and extends it. One cache holds `batch` sequence slots of up to `capacity`
 * positions each.
 *
 * Layout per layer (outermost first): keys [B, Hkv, S, D], stored as rows of
 * D so new keys are written with setRows; values transposed, [B, Hkv, D, S],
 * stored as rows of one element, so attention's second product reads them
 * without a copy. (B slots, Hkv kv heads, S capacity, D head dim.) Stored in
 * f32 or f16 (half the memory; ggml rounds the keys and values as it writes
 * them). A cache grows (grow) by whole new tensors, its contents copied.
 */
import type { Engine, Graph, Tensor } from "../engine/index.ts";
import {
  headDim,
  heads,
  type LayerWeights,
  type LlamaConfig,
  type LlamaWeights,
  mlp,
  project,
  rmsNorm,
} from "./llama.ts";

/** Storage types of a KV cache. */
export type KvDtype = "f32" | "f16";

/**
 * The cache type that suits a model: f16 when its weights are already f16/bf16 (the model computes at
 * half precision anyway, as llama.cpp's default f16 cache does), f32 for f32 weights, so a policy being
 * trained samples with the same numbers its f32 training graph recomputes (GRPO's log-prob ratios).
 */
export function defaultKvDtype(weights: LlamaWeights): KvDtype {
  const dtype = weights.layers[0]?.wq.dtype ?? weights.embed.dtype;
  return dtype === "f16" || dtype === "bf16" ? "f16" : "f32";
}

export class KvCache {
  /** Per layer: keys as rows [B*Hkv*S, D]. Replaced (not resized) by grow(). */
  readonly keys: Tensor[];
  /** Per layer: values transposed, as one-element rows [B*Hkv*D*S, 1]. Replaced by grow(). */
  readonly values: Tensor[];
  #batch: number;
  #capacity: number;
  readonly #engine: Engine;

  constructor(
    engine: Engine,
    readonly config: LlamaConfig,
    batch: number,
    capacity: number,
    readonly dtype: KvDtype = "f32",
  ) {
    if (!(Number.isInteger(batch) && batch > 0 && Number.isInteger(capacity) && capacity > 0)) {
      throw new Error(`kv cache: ${batch} slots of ${capacity} positions: both must be positive integers`);
    }
    this.#engine = engine;
    this.#batch = batch;
    this.#capacity = capacity;
    this.keys = [];
    this.values = [];
    try {
      for (let l = 0; l < config.layers; l++) {
        this.keys.push(this.#keysTensor(l, batch, capacity));
        this.values.push(this.#valuesTensor(l, batch, capacity));
      }
    } catch (err) {
      this.free();
      throw err;
    }
  }

  /** Sequence slots (B). */
  get batch(): number {
    return this.#batch;
  }

  /** Positions per slot (S). */
  get capacity(): number {
    return this.#capacity;
  }

  /** Bytes the cache holds: layers x 2 x B x Hkv x S x D elements. */
  get bytes(): number {
    const elements = 2 * this.config.layers * this.#batch * this.config.kvHeads * this.#capacity;
    return elements * headDim(this.config) * (this.dtype === "f16" ? 2 : 4);
  }

  /**
   * Enlarges the cache to `batch` slots of `capacity` positions (neither may shrink), keeping every
   * slot's keys and values at their positions. The copy runs on the engine, layer by layer: each new
   * layer is allocated and filled before the old one is freed, so the memory held peaks at the new
   * size plus one old layer, and nothing passes through JavaScript. Graphs built over the old
   * tensors must be freed first (they read the tensors this replaces). If it throws, the cache is
   * left part old, part new: free it.
   */
  async grow(batch: number, capacity: number): Promise<void> {
    const [B, S] = [this.#batch, this.#capacity];
    if (batch < B || capacity < S) {
      throw new Error(`kv cache: cannot shrink ${B} slots of ${S} positions to ${batch} of ${capacity}`);
    }
    if (batch === B && capacity === S) return;
    const D = headDim(this.config);
    const heads = B * this.config.kvHeads; // (slot, kv head) pairs held now
    // where each old row goes: per (slot, head) S key rows of D, per (slot, head, dim) S value elements
    const moved = (runs: number) =>
      Int32Array.from({ length: runs * S }, (_, r) => Math.floor(r / S) * capacity + (r % S));
    const keyRows = this.#engine.tensor([heads * S], { dtype: "i32", data: moved(heads) });
    const valueRows = this.#engine.tensor([heads * D * S], { dtype: "i32", data: moved(heads * D) });
    try {
      for (let l = 0; l < this.config.layers; l++) {
        const keys = this.#keysTensor(l, batch, capacity);
        const values = this.#valuesTensor(l, batch, capacity);
        const g = this.#engine.graph({ name: "kv cache grow" });
        try {
          const f32 = (t: Tensor) => (t.dtype === "f32" ? t : g.cast(t, "f32"));
          g.build({
            effects: [
              g.setRows(keys, f32(this.keys[l]), keyRows), // [batch*Hkv*capacity, D]
              g.setRows(values, f32(this.values[l]), valueRows), // [batch*Hkv*D*capacity, 1]
            ],
          });
          await g.compute();
        } catch (err) {
          keys.free();
          values.free();
          throw err;
        } finally {
          g.free();
        }
        this.keys[l].free();
        this.values[l].free();
        this.keys[l] = keys;
        this.values[l] = values;
      }
    } finally {
      keyRows.free();
      valueRows.free();
    }
    this.#batch = batch;
    this.#capacity = capacity;
  }

  free(): void {
    for (const t of [...this.keys, ...this.values]) t.free();
  }

  #keysTensor(layer: number, batch: number, capacity: number): Tensor {
    const rows = batch * this.config.kvHeads * capacity;
    return this.#engine.tensor([rows, headDim(this.config)], {
      dtype: this.dtype,
      name: `kv cache keys ${layer}`,
    });
  }

  #valuesTensor(layer: number, batch: number, capacity: number): Tensor {
    const rows = batch * this.config.kvHeads * capacity;
    return this.#engine.tensor([rows * headDim(this.config), 1], {
      dtype: this.dtype,
      name: `kv cache values ${layer}`,
    });
  }
}

/** Host-side description of one cached forward step over B rows of T tokens. */
export interface CachedStep {
  /** Cache slot of each row (B). A decode step's rows are slots 0..B-1; a prefill's may be any slots. */
  slots: Int32Array;
  /** Token ids, B rows of T tokens, row-major. */
  ids: Int32Array;
  B: number;
  T: number;
  /** Position of each token (B*T), i.e. where it is written in its slot. */
  positions: Int32Array;
  /** Keys read per slot: positions [0, used). Each token attends to positions <= its own. */
  used: number;
  /** Real tokens of each row (rows are right-padded to T); default T. */
  lengths?: Int32Array;
}

/**
 * The persistent input tensors of cached steps of one shape, rewritten for each step so a graph
 * built over them can be computed again and again. Two kinds of step:
 * - decode (`prefill` false): B rows in slots [0, B), reading positions [0, used) of the cache;
 * - prefill: B prompts, from position 0, into any B distinct slots; each row's context is its own
 *   new tokens, so attention reads them from the graph, not the cache (used = T).
 */
export class CachedInputs {
  readonly ids: Tensor; // i32 [B, T]
  readonly positions: Tensor; // i32 [B*T]
  readonly keyRows: Tensor; // i32 [B*Hkv*T]: row of each new key in the cache
  readonly valueRows: Tensor; // i32 [B*Hkv*D*T]: row of each new value element
  readonly mask: Tensor; // f32 [B, 1, T, used]: 0 where attended, -inf elsewhere
  readonly lastRows: Tensor; // i32 [B]: row of each sequence's last real token in [B*T]

  constructor(
    engine: Engine,
    readonly cache: KvCache,
    readonly B: number,
    readonly T: number,
    readonly used: number,
    readonly prefill: boolean,
  ) {
    if (prefill && used !== T)
      throw new Error(`kv cache: a prefill of ${T} tokens reads ${T} positions, not ${used}`);
    const Hkv = cache.config.kvHeads;
    const D = headDim(cache.config);
    this.ids = engine.tensor([B, T], { dtype: "i32" });
    this.positions = engine.tensor([B * T], { dtype: "i32" });
    this.keyRows = engine.tensor([B * Hkv * T], { dtype: "i32" });
    this.valueRows = engine.tensor([B * Hkv * D * T], { dtype: "i32" });
    this.mask = engine.tensor([B, 1, T, used]);
    this.lastRows = engine.tensor([B], { dtype: "i32" });
  }

  /** Writes a step of this shape: its tokens, positions, cache rows and attention mask. */
  write(step: CachedStep): void {
    const { B, T, used } = this;
    const S = this.cache.capacity;
    if (step.B !== B || step.T !== T || step.used > used || step.slots.length !== B) {
      throw new Error(
        `kv cache: a step of [${step.B}, ${step.T}] reading ${step.used} does not fit inputs of [${B}, ${T}] reading ${used}`,
      );
    }
    for (const [b, slot] of step.slots.entries()) {
      const ok = this.prefill
        ? slot >= 0 && slot < this.cache.batch && step.slots.indexOf(slot) === b
        : slot === b;
      if (!ok)
        throw new Error(
          `kv cache: row ${b} of a ${this.prefill ? "prefill" : "decode step"} in slot ${slot}`,
        );
    }
    const Hkv = this.cache.config.kvHeads;
    const D = headDim(this.cache.config);
    const keyRows = this.keyRows.view();
    const valueRows = this.valueRows.view();
    const mask = this.mask.view();
    mask.fill(Number.NEGATIVE_INFINITY);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const p = step.positions[b * T + t];
        if (!(p >= 0 && p < S && p < used))
          throw new Error(`kv cache: position ${p} outside [0, ${Math.min(S, used)})`);
        for (let h = 0; h < Hkv; h++) {
          const head = step.slots[b] * Hkv + h;
          keyRows[(b * Hkv + h) * T + t] = head * S + p;
          for (let d = 0; d < D; d++) valueRows[((b * Hkv + h) * D + d) * T + t] = (head * D + d) * S + p;
        }
        mask.fill(0, (b * T + t) * used, (b * T + t) * used + p + 1);
      }
    }
    this.ids.write(step.ids);
    this.positions.write(step.positions);
    this.lastRows.write(Int32Array.from({ length: B }, (_, b) => b * T + (step.lengths?.[b] ?? T) - 1));
  }

  free(): void {
    for (const t of [this.ids, this.positions, this.keyRows, this.valueRows, this.mask, this.lastRows])
      t.free();
  }
}

/** Rotary embedding with a position per token: x [B, T, n, D], positions [B*T]. */
function ropePerToken(g: Graph, c: LlamaConfig, x: Tensor, positions: Tensor): Tensor {
  const [B, T, n, D] = x.shape;
  const r = g.rope(g.reshape(x, [B * T, n, D]), positions, { theta: c.ropeTheta, mode: "neox" });
  return g.reshape(r, [B, T, n, D]);
}

/**
 * Attention of x [B, T, C] that appends its keys and values to the cache (pushing the writes to
 * `writes`), then attends to positions [0, used) of each row's slot, or, in a prefill, to the new
 * tokens themselves.
 */
function cachedAttention(
  g: Graph,
  c: LlamaConfig,
  w: LayerWeights,
  layer: number,
  cache: KvCache,
  inp: CachedInputs,
  x: Tensor,
  writes: Tensor[],
): Tensor {
  const { B, T, used } = inp;
  const { heads: H, kvHeads: Hkv } = c;
  const D = headDim(c);
  const S = cache.capacity;
  const q = ropePerToken(g, c, heads(g, c, project(g, x, w.wq, w.bq, w.lora?.q), H, w.qNorm), inp.positions); // [B, T, H, D]
  const k = ropePerToken(
    g,
    c,
    heads(g, c, project(g, x, w.wk, w.bk, w.lora?.k), Hkv, w.kNorm),
    inp.positions,
  ); // [B, T, Hkv, D]
  const v = heads(g, c, project(g, x, w.wv, w.bv, w.lora?.v), Hkv); // [B, T, Hkv, D]

  const newKeys = g.reshape(g.cont(g.permute(k, [0, 2, 1, 3])), [B * Hkv * T, D]); // [B*Hkv*T, D]
  const keysAll = g.setRows(cache.keys[layer], newKeys, inp.keyRows); // [Bc*Hkv*S, D]
  const newValues = g.reshape(g.cont(g.permute(v, [0, 2, 3, 1])), [B * Hkv * D * T, 1]); // [B*Hkv*D*T, 1]
  const valuesAll = g.setRows(cache.values[layer], newValues, inp.valueRows); // [Bc*Hkv*D*S, 1]
  writes.push(keysAll, valuesAll);
  const Bc = cache.batch;
  const keys = inp.prefill
    ? g.reshape(newKeys, [B, Hkv, T, D])
    : g.narrow(g.narrow(g.reshape(keysAll, [Bc, Hkv, S, D]), 0, 0, B), 2, 0, used); // [B, Hkv, used, D]
  const values = inp.prefill
    ? g.reshape(newValues, [B, Hkv, D, T])
    : g.narrow(g.narrow(g.reshape(valuesAll, [Bc, Hkv, D, S]), 0, 0, B), 3, 0, used); // [B, Hkv, D, used]

  const qh = g.cont(g.permute(q, [0, 2, 1, 3])); // [B, H, T, D]
  const att = g.softmax(g.linear(qh, keys), { mask: inp.mask, scale: 1 / Math.sqrt(D) }); // [B, H, T, used]
  const y = g.linear(att, values); // [B, H, T, D]
  const merged = g.reshape(g.cont(g.permute(y, [0, 2, 1, 3])), [B, T, H * D]); // [B, T, H*D]
  return project(g, merged, w.wo, w.bo, w.lora?.o); // [B, T, C]
}

/**
 * One forward step over B slots with the cache: appends the tokens' keys and
 * values, and returns the logits of every token [B, T, V] or, with
 * `lastOnly`, of each row's last real token [B, 1, V], and the cache writes
 * (build them as effects: a prefill reads none of them back). `rowScale`
 * ([B, 1, 1], optional) multiplies each row's final hidden state before the
 * output projection, which scales that row's logits (a per-row
 * 1 / temperature) at the cost of B x C products instead of B x V.
 */
export function cachedLogits(
  g: Graph,
  c: LlamaConfig,
  w: LlamaWeights,
  cache: KvCache,
  inp: CachedInputs,
  lastOnly: boolean,
  rowScale?: Tensor,
): { logits: Tensor; writes: Tensor[] } {
  const writes: Tensor[] = [];
  let x = g.embedding(w.embed, inp.ids); // [B, T, C]
  w.layers.forEach((lw, l) => {
    const a = cachedAttention(g, c, lw, l, cache, inp, rmsNorm(g, x, lw.attnNorm, c.rmsEps), writes);
    const h = g.add(x, a);
    x = g.add(h, mlp(g, lw, rmsNorm(g, h, lw.mlpNorm, c.rmsEps)));
  });
  const { B, T } = inp;
  const last =
    lastOnly && T > 1
      ? g.reshape(g.embedding(g.reshape(x, [B * T, c.hidden]), inp.lastRows), [B, 1, c.hidden])
      : x; // [B, 1 or T, C]
  const normed = rmsNorm(g, last, w.finalNorm, c.rmsEps); // [B, 1 or T, C]
  return { logits: g.linear(rowScale ? g.mul(normed, rowScale) : normed, w.lmHead), writes }; // [B, 1 or T, V]
}
