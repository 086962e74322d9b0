/**
 * A Llama-style decoder (RMSNorm, rotary attention with grouped KV heads,
 * SwiGLU MLP) written as engine graphs, in the spirit of nanoGPT: one
 * function per layer, the shape of every tensor in a comment. The options
 * cover the Qwen family: q/k/v biases (Qwen2, Qwen2.5) and per-head q/k
 * RMSNorm with a head dim of its own (Qwen3).
 *
 * Notation: B batch, T sequence, C hidden, H heads, Hkv kv heads, D head
 * dim (C / H unless set), F feed-forward width, V vocabulary.
 */
import { z } from "zod";
import type { Engine, Graph, Tensor } from "../engine/index.ts";
import { gaussian } from "./random.ts";

export const LlamaConfig = z.object({
  vocabSize: z.number().int().positive(),
  hidden: z.number().int().positive(),
  layers: z.number().int().positive(),
  heads: z.number().int().positive(),
  kvHeads: z.number().int().positive(),
  ffn: z.number().int().positive(),
  ropeTheta: z.number().positive().default(10000),
  rmsEps: z.number().positive().default(1e-6),
  tieEmbeddings: z.boolean().default(false),
  /** Per-head dimension; default hidden / heads (Qwen3 sets its own). */
  headDim: z.number().int().positive().optional(),
  /** Biases on the q, k and v projections (Qwen2 / Qwen2.5). */
  attentionBias: z.boolean().default(false),
  /** RMSNorm of each query and key head before rotary embedding (Qwen3). */
  qkNorm: z.boolean().default(false),
  /** A bias on the output projection (Llama / Qwen3 with attention_bias). */
  outputBias: z.boolean().default(false),
});
export type LlamaConfig = z.output<typeof LlamaConfig>;

export interface LayerWeights {
  attnNorm: Tensor; // [C]
  bq?: Tensor; // [H*D] (attentionBias)
  bk?: Tensor; // [Hkv*D]
  bv?: Tensor; // [Hkv*D]
  qNorm?: Tensor; // [D] (qkNorm)
  kNorm?: Tensor; // [D]
  wq: Tensor; // [H*D, C]
  wk: Tensor; // [Hkv*D, C]
  wv: Tensor; // [Hkv*D, C]
  wo: Tensor; // [C, H*D]
  bo?: Tensor; // [C] (outputBias)
  mlpNorm: Tensor; // [C]
  wGate: Tensor; // [F, C]
  wUp: Tensor; // [F, C]
  wDown: Tensor; // [C, F]
  /** LoRA adapters on some of the linear layers (see lora.ts). */
  lora?: Partial<Record<LoraTarget, LoraAdapter>>;
}

/** The linear layers a LoRA adapter can sit on (PEFT names: q_proj ... down_proj). */
export type LoraTarget = "q" | "k" | "v" | "o" | "gate" | "up" | "down";

/** A low-rank update W + scale * B A of a frozen linear weight W [out, in]. */
export interface LoraAdapter {
  a: Tensor; // [r, in]
  b: Tensor; // [out, r]
  /** alpha / r */
  scale: number;
}

export interface LlamaWeights {
  embed: Tensor; // [V, C]
  layers: LayerWeights[];
  finalNorm: Tensor; // [C]
  lmHead: Tensor; // [V, C] (the embedding itself when tied)
}

/** Checks the config's derived sizes (head dim, grouping) and returns it parsed. */
export function parseLlamaConfig(input: z.input<typeof LlamaConfig>): LlamaConfig {
  const c = LlamaConfig.parse(input);
  if (c.headDim === undefined && c.hidden % c.heads !== 0) {
    throw new Error(`llama config: hidden ${c.hidden} is not divisible by heads ${c.heads}`);
  }
  if (c.heads % c.kvHeads !== 0) {
    throw new Error(`llama config: heads ${c.heads} is not divisible by kvHeads ${c.kvHeads}`);
  }
  if (headDim(c) % 2 !== 0) throw new Error(`llama config: head dim ${headDim(c)} must be even`);
  return c;
}

/** The per-head dimension D. */
export function headDim(c: LlamaConfig): number {
  return c.headDim ?? c.hidden / c.heads;
}

/** Trainable parameters, initialised N(0, 0.02) (norms at 1, biases at 0) from a seeded generator. */
export function initLlamaWeights(engine: Engine, config: LlamaConfig, seed = 0): LlamaWeights {
  const { vocabSize: V, hidden: C, heads: H, kvHeads: Hkv, ffn: F } = config;
  const D = headDim(config);
  const rand = gaussian(seed);
  const normal = (shape: number[], name: string) => {
    const data = Float32Array.from({ length: shape[0] * (shape[1] ?? 1) }, () => 0.02 * rand());
    return engine.param(shape, { name, data });
  };
  const filled = (n: number, value: number, name: string) =>
    engine.param([n], { name, data: new Float32Array(n).fill(value) });
  const embed = normal([V, C], "embed");
  const layers = Array.from({ length: config.layers }, (_, i) => {
    const layer: LayerWeights = {
      attnNorm: filled(C, 1, `l${i}.attn_norm`),
      wq: normal([H * D, C], `l${i}.wq`),
      wk: normal([Hkv * D, C], `l${i}.wk`),
      wv: normal([Hkv * D, C], `l${i}.wv`),
      wo: normal([C, H * D], `l${i}.wo`),
      mlpNorm: filled(C, 1, `l${i}.mlp_norm`),
      wGate: normal([F, C], `l${i}.w_gate`),
      wUp: normal([F, C], `l${i}.w_up`),
      wDown: normal([C, F], `l${i}.w_down`),
    };
    if (config.attentionBias) {
      layer.bq = filled(H * D, 0, `l${i}.bq`);
      layer.bk = filled(Hkv * D, 0, `l${i}.bk`);
      layer.bv = filled(Hkv * D, 0, `l${i}.bv`);
    }
    if (config.outputBias) layer.bo = filled(C, 0, `l${i}.bo`);
    if (config.qkNorm) {
      layer.qNorm = filled(D, 1, `l${i}.q_norm`);
      layer.kNorm = filled(D, 1, `l${i}.k_norm`);
    }
    return layer;
  });
  const finalNorm = filled(C, 1, "final_norm");
  const lmHead = config.tieEmbeddings ? embed : normal([V, C], "lm_head");
  return { embed, layers, finalNorm, lmHead };
}

/** Every distinct weight tensor, LoRA adapters included. */
export function llamaParameters(w: LlamaWeights): Tensor[] {
  const layerTensors = w.layers.flatMap(({ lora, ...tensors }) => [
    ...Object.values(tensors),
    ...Object.values(lora ?? {}).flatMap((ad) => [ad.a, ad.b]),
  ]);
  return [...new Set([w.embed, ...layerTensors, w.finalNorm, w.lmHead])];
}

/**
 * A frozen copy of the weights (new non-trainable tensors with the same
 * values, adapters dropped): the reference model of GRPO's KL term, taken from
 * the policy before training. Matrices are stored as `dtype` (bf16 halves the
 * memory); norms and biases stay f32.
 */
export function frozenCopy(engine: Engine, w: LlamaWeights, dtype: "f32" | "bf16" = "f32"): LlamaWeights {
  const copies = new Map<Tensor, Tensor>();
  const copy = (t: Tensor) => {
    let c = copies.get(t);
    if (!c) {
      c = engine.tensor(t.shape, {
        data: t.readF32(),
        name: t.name,
        dtype: t.shape.length === 2 ? dtype : "f32",
      });
      copies.set(t, c);
    }
    return c;
  };
  const layers = w.layers.map(({ lora: _, ...tensors }) => {
    const out = {} as LayerWeights;
    for (const [k, t] of Object.entries(tensors)) out[k as Exclude<keyof LayerWeights, "lora">] = copy(t);
    return out;
  });
  return { embed: copy(w.embed), layers, finalNorm: copy(w.finalNorm), lmHead: copy(w.lmHead) };
}

/** The tensors an optimizer should update: the trainable ones (all, or only LoRA adapters over a frozen base). */
export function trainableParameters(w: LlamaWeights): Tensor[] {
  return llamaParameters(w).filter((t) => t.kind === "param");
}

/** Parameter count (tied embeddings counted once). */
export function countParameters(w: LlamaWeights): number {
  return llamaParameters(w).reduce((n, t) => n + t.size, 0);
}

/** RMSNorm with a learned gain: x [.., C] -> [.., C]. */
export function rmsNorm(g: Graph, x: Tensor, weight: Tensor, eps: number): Tensor {
  return g.mul(g.rmsNorm(x, eps), weight);
}

/** x @ w^T (+ b): the projections, with the optional bias of Qwen2. */
export function project(g: Graph, x: Tensor, w: Tensor, b?: Tensor, adapter?: LoraAdapter): Tensor {
  let y = g.linear(x, w);
  if (adapter) {
    // LoRA: + scale * (x A^T) B^T, with A [r, in] and B [out, r]
    y = g.add(y, g.scale(g.linear(g.linear(x, adapter.a), adapter.b), adapter.scale));
  }
  return b ? g.add(y, b) : y;
}

/** Splits projections [B, T, n*D] into heads [B, T, n, D], RMS-normed per head when the model has q/k norms. */
export function heads(g: Graph, c: LlamaConfig, y: Tensor, n: number, norm?: Tensor): Tensor {
  const [B, T] = y.shape;
  const h = g.reshape(y, [B, T, n, headDim(c)]);
  return norm ? rmsNorm(g, h, norm, c.rmsEps) : h;
}

/**
 * Causal self-attention of x [B, T, C] at positions pos (i32 [T]).
 * Grouped KV heads broadcast over query heads as HF's repeat_kv does.
 */
export function attention(g: Graph, c: LlamaConfig, w: LayerWeights, x: Tensor, pos: Tensor): Tensor {
  const [B, T] = x.shape;
  const { heads: H, kvHeads: Hkv } = c;
  const D = headDim(c);
  const rope = { theta: c.ropeTheta, mode: "neox" as const };
  const q = g.rope(heads(g, c, project(g, x, w.wq, w.bq, w.lora?.q), H, w.qNorm), pos, rope); // [B, T, H, D]
  const k = g.rope(heads(g, c, project(g, x, w.wk, w.bk, w.lora?.k), Hkv, w.kNorm), pos, rope); // [B, T, Hkv, D]
  const v = heads(g, c, project(g, x, w.wv, w.bv, w.lora?.v), Hkv); // [B, T, Hkv, D]
  // Contiguous heads let the BLAS backend take the attention products (and their backward).
  const qh = g.cont(g.permute(q, [0, 2, 1, 3])); // [B, H, T, D]
  const kh = g.cont(g.permute(k, [0, 2, 1, 3])); // [B, Hkv, T, D]
  const vt = g.cont(g.permute(v, [0, 2, 3, 1])); // [B, Hkv, D, T]
  const scores = g.causalMask(g.linear(qh, kh)); // [B, H, T, T]
  const att = g.softmax(scores, { scale: 1 / Math.sqrt(D) }); // [B, H, T, T]
  const y = g.linear(att, vt); // [B, H, T, D]
  const merged = g.reshape(g.cont(g.permute(y, [0, 2, 1, 3])), [B, T, H * D]); // [B, T, H*D]
  return project(g, merged, w.wo, w.bo, w.lora?.o); // [B, T, C]
}

/** SwiGLU feed-forward: x [B, T, C] -> [B, T, C]. */
export function mlp(g: Graph, w: LayerWeights, x: Tensor): Tensor {
  const h = g.swiglu(
    project(g, x, w.wGate, undefined, w.lora?.gate),
    project(g, x, w.wUp, undefined, w.lora?.up),
  ); // [B, T, F]
  return project(g, h, w.wDown, undefined, w.lora?.down); // [B, T, C]
}

/** One pre-norm decoder layer with residual connections: [B, T, C] -> [B, T, C]. */
export function block(g: Graph, c: LlamaConfig, w: LayerWeights, x: Tensor, pos: Tensor): Tensor {
  const h = g.add(x, attention(g, c, w, rmsNorm(g, x, w.attnNorm, c.rmsEps), pos));
  return g.add(h, mlp(g, w, rmsNorm(g, h, w.mlpNorm, c.rmsEps)));
}

/** The final hidden states of token ids (i32 [B, T]): [B, T, C]. */
export function hiddenStates(g: Graph, c: LlamaConfig, w: LlamaWeights, ids: Tensor, pos: Tensor): Tensor {
  let x = g.embedding(w.embed, ids); // [B, T, C]
  for (const layer of w.layers) x = block(g, c, layer, x, pos);
  return rmsNorm(g, x, w.finalNorm, c.rmsEps); // [B, T, C]
}

/** Logits of every position: [B, T, V]. */
export function logits(g: Graph, c: LlamaConfig, w: LlamaWeights, ids: Tensor, pos: Tensor): Tensor {
  return g.linear(hiddenStates(g, c, w, ids, pos), w.lmHead);
}

/**
 * Per-token weighted log-likelihood loss: -sum_n weights[n] * log p(targets[n]),
 * over the B*T positions (weights 0 mask a position out). Returns the scalar
 * loss and the per-token log-probs [B*T].
 */
export function weightedNllLoss(
  g: Graph,
  c: LlamaConfig,
  w: LlamaWeights,
  ids: Tensor,
  pos: Tensor,
  targets: Int32Array,
  weights: Tensor,
): { loss: Tensor; logProbs: Tensor } {
  const [B, T] = ids.shape;
  const flat = g.reshape(logits(g, c, w, ids, pos), [B * T, c.vocabSize]); // [B*T, V]
  const logProbs = g.logProbsOf(flat, targets); // [B*T]
  const loss = g.neg(g.sum(g.mul(logProbs, weights))); // [1]
  return { loss, logProbs };
}
