/**
 * How much memory a training run needs, from its shapes alone (no engine,
 * no files): the weights, the LoRA adapters, the optimizer, the reference
 * model, the KV cache of the rollouts and the activations of one training
 * micro-batch, with per-layer checkpointing (checkpointed-trunk.ts, the
 * default of chunked-loss.ts) and without it (one graph for the trunk).
 *
 * The activation terms follow the code's graphs (see `activationBytes`);
 * their per-token constants were fitted to `reasonrl bench memory` (peak RSS
 * of LoRA rank-16 loss passes over a bf16 base, chunkRows 256) and round up;
 * the runtime term to a `reasonrl train` GRPO step. Planned vs measured
 * peak RSS: 1.5B shape, one 3,584-token row, 2 layers 3.88 vs 3.39 GiB, 4
 * layers 4.16 vs 3.70 GiB, all 28 layers 7.47 vs 6.44 GiB; 0.5B shape, one 1,280-token row, 3.00 vs 2.49
 * GiB (bench memory, without the tokenizer and reward workers of train); a
 * 0.5B GRPO step of 2 completions of 1,024 tokens (train, chunkRows 1024):
 * 5.35 vs 4.99 GiB.
 *
 * Notation as in llama.ts: B rows, T tokens per row, C hidden, L layers,
 * H heads, Hkv kv heads, D head dim, F MLP width, V vocabulary.
 */
import { z } from "zod";
import { headDim, type LlamaConfig, type LoraTarget } from "./llama.ts";

/** Storage of frozen matrices (the base under LoRA, or the reference). */
export type FrozenDType = "f32" | "f16" | "bf16" | "q8_0";

/** Bytes per element of frozen matrices (q8_0: blocks of 32 int8 values and one f16 scale). */
export const FROZEN_BYTES: Record<FrozenDType, number> = { f32: 4, f16: 2, bf16: 2, q8_0: 34 / 32 };

export const MemoryPlanInput = z.object({
  /** Storage of the frozen matrices. */
  dtype: z.enum(["f32", "f16", "bf16", "q8_0"]).default("f32"),
  /** LoRA adapters (null: full fine-tuning, every weight trained in f32). */
  lora: z
    .object({
      rank: z.number().int().positive(),
      targets: z.array(z.enum(["q", "k", "v", "o", "gate", "up", "down"])),
    })
    .nullable()
    .default(null),
  /** A frozen reference model is kept (GRPO with beta > 0; under LoRA the base serves). */
  reference: z.boolean().default(false),
  /** Rows of one training micro-batch. */
  rows: z.number().int().positive(),
  /** Tokens of each row (prompt + completion, padded to the longest). */
  tokens: z.number().int().positive(),
  /** Rows of the output projection at a time (chunkRows of chunked-loss.ts). */
  chunkRows: z.number().int().positive().default(1024),
  /** Queries per attention chunk when checkpointing. */
  queryChunk: z.number().int().positive().default(512),
  /** Sequences decoded together during rollouts (0: no generation). */
  kvSequences: z.number().int().nonnegative().default(0),
  /** Positions of each decoded sequence (prompt + max completion). */
  kvPositions: z.number().int().nonnegative().default(0),
});
export type MemoryPlanInput = z.input<typeof MemoryPlanInput>;

/** Bytes of each part of a run. */
export interface MemoryPlan {
  /** The model's weights: frozen base (LoRA) or trained f32 weights (full fine-tuning). */
  weights: number;
  /** LoRA adapters (0 for full fine-tuning). */
  adapters: number;
  /** Gradient accumulators and AdamW's two moments of every trained tensor. */
  optimizer: number;
  /** The frozen reference of a full fine-tune (under LoRA the base serves: 0). */
  reference: number;
  /** Keys and values of the rollouts, at their longest. */
  kvCache: number;
  /** Peak activations of one training micro-batch, checkpointing per layer (what training does). */
  activations: number;
  /** The same with the whole trunk as one graph (checkpoint: false), for comparison. */
  activationsWithoutCheckpointing: number;
  /** Process baseline: Node, the addon, the tokenizer, buffers. */
  runtime: number;
  /** Peak of the run: everything resident plus the larger of rollouts and training. */
  total: number;
  /** Trained parameters. */
  trainableParameters: number;
}

/** Node, ggml, the tokenizer, the reward workers and the generator's graphs: what train holds besides tensors. */
const RUNTIME_BYTES = 0.75 * 2 ** 30;

/**
 * f32 values a layer's graph keeps per token for its backward pass, and the
 * backward's own temporaries at their peak, in units of C and F: measured on
 * the 0.5B and 1.5B shapes and rounded up (LoRA keeps its adapters'
 * intermediates too).
 */
const PER_TOKEN = { lora: { c: 16, f: 8 }, full: { c: 12, f: 6 } };

/** f32 tensors of [chunkRows, V] alive at once in the output chunk's graph (logits, softmax, their gradients, ...). */
const HEAD_COPIES = 5;

/**
 * Memory that per-layer checkpointing must save before the training loss uses it
 * (`checkpoint: "auto"` of chunked-loss.ts). Below it recomputing the trunk costs
 * more than the memory is worth: at the demo's shape an SFT step ran at 4,006-4,568
 * tokens/s checkpointed against 5,996-6,299 as one graph (`reasonrl bench grpo`).
 */
export const CHECKPOINT_SAVING_BYTES = 2 ** 30;

/** Whether "auto" checkpoints the trunk of a micro-batch with these settings. */
export function checkpointPays(c: LlamaConfig, input: MemoryPlanInput): boolean {
  const o = MemoryPlanInput.parse(input);
  return activationBytes(c, o, false) - activationBytes(c, o, true) > CHECKPOINT_SAVING_BYTES;
}

/** The memory of a run of model `c` with the given settings. */
export function memoryPlan(c: LlamaConfig, input: MemoryPlanInput): MemoryPlan {
  const o = MemoryPlanInput.parse(input);
  const E = FROZEN_BYTES[o.dtype];
  const { matrices, vectors } = parameterCounts(c);
  let weights: number;
  let adapters = 0;
  let trainable: number;
  let reference = 0;
  if (o.lora) {
    const a = loraParameters(c, o.lora.rank, o.lora.targets);
    weights = matrices * E + vectors * 4;
    adapters = a * 4;
    trainable = a;
  } else {
    trainable = matrices + vectors;
    weights = trainable * 4;
    // the reference of a full fine-tune: frozenCopy, matrices in bf16 when the recipe says so
    if (o.reference) reference = matrices * (o.dtype === "f32" ? 4 : 2) + vectors * 4;
  }
  const optimizer = trainable * 4 * 3; // gradient, m, v
  const kvBytes = E === 4 ? 4 : 2; // the cache is f16 under half-precision weights (kv-cache.ts)
  const kvCache = 2 * c.layers * c.kvHeads * headDim(c) * o.kvPositions * o.kvSequences * kvBytes;
  const activationsWithoutCheckpointing = activationBytes(c, o, false);
  const activations = checkpointPays(c, o) ? activationBytes(c, o, true) : activationsWithoutCheckpointing;
  const resident = RUNTIME_BYTES + weights + adapters + optimizer + reference;
  return {
    weights,
    adapters,
    optimizer,
    reference,
    kvCache,
    activations,
    activationsWithoutCheckpointing,
    runtime: RUNTIME_BYTES,
    total: resident + Math.max(kvCache, activations),
    trainableParameters: trainable,
  };
}

/**
 * Peak activation bytes of one loss pass (chunked-loss.ts) over B x T tokens:
 *
 *   kept on the host: checkpointing, every layer's input [B, T, C] (L + 1 of
 *     them), the final hidden states and their gradient, and as much again
 *     for the gradients read back layer by layer (garbage the collector
 *     frees late: measured); without, the hidden states and their gradient;
 *   the larger of
 *   - the output chunk's graph: HEAD_COPIES f32 [chunkRows, V] and a
 *     transposed copy of the output matrix for its backward;
 *   - the trunk: checkpointing, one layer's graph (its input, seed and
 *     gradient, PER_TOKEN values per token, each query chunk's softmax
 *     [B, H, n, S] kept for backward, the chunk's scores and their gradient,
 *     transposed copies of the layer's matrices); without, every layer's
 *     PER_TOKEN values and its whole [B, H, T, T] softmax.
 */
export function activationBytes(
  c: LlamaConfig,
  o: z.output<typeof MemoryPlanInput>,
  checkpoint: boolean,
): number {
  const { rows: B, tokens: T, chunkRows } = o;
  const { hidden: C, ffn: F, heads: H, vocabSize: V, layers: L } = c;
  const E = FROZEN_BYTES[o.dtype];
  const rowBytes = B * T * C * 4; // one [B, T, C] f32 tensor
  const perToken = o.lora ? PER_TOKEN.lora : PER_TOKEN.full;
  const saved = B * T * (perToken.c * C + perToken.f * F) * 4;
  const rowsOut = Math.min(chunkRows, B * T);
  const head = HEAD_COPIES * rowsOut * V * 4 + V * C * E;
  const layerMatrices = parameterCounts({ ...c, layers: 1, vocabSize: 1 }).matrices * E;
  if (!checkpoint) {
    const trunk = L * (saved + B * H * T * T * 4) + layerMatrices;
    return 2 * rowBytes + Math.max(head, trunk);
  }
  let softmaxKept = 0;
  for (let start = 0; start < T; start += o.queryChunk) {
    const n = Math.min(o.queryChunk, T - start);
    softmaxKept += n * (start + n);
  }
  const q = Math.min(o.queryChunk, T);
  const layer = 3 * rowBytes + saved + B * H * 4 * (softmaxKept + 2 * q * T) + layerMatrices;
  return (2 * L + 3) * rowBytes + Math.max(head, layer);
}

/** Elements of the matrices (embeddings included, the output once when tied) and of the norms and biases. */
export function parameterCounts(c: LlamaConfig): { matrices: number; vectors: number } {
  const { hidden: C, ffn: F, heads: H, kvHeads: Hkv, vocabSize: V } = c;
  const D = headDim(c);
  const layerMatrices = 2 * H * D * C + 2 * Hkv * D * C + 3 * F * C;
  let layerVectors = 2 * C;
  if (c.attentionBias) layerVectors += (H + 2 * Hkv) * D;
  if (c.outputBias) layerVectors += C;
  if (c.qkNorm) layerVectors += 2 * D;
  return {
    matrices: c.layers * layerMatrices + V * C * (c.tieEmbeddings ? 1 : 2),
    vectors: c.layers * layerVectors + C,
  };
}

/** Elements of the LoRA adapters: r x (in + out) per target per layer. */
export function loraParameters(c: LlamaConfig, rank: number, targets: readonly LoraTarget[]): number {
  const { hidden: C, ffn: F, heads: H, kvHeads: Hkv } = c;
  const D = headDim(c);
  const sides: Record<LoraTarget, [number, number]> = {
    q: [C, H * D],
    k: [C, Hkv * D],
    v: [C, Hkv * D],
    o: [H * D, C],
    gate: [C, F],
    up: [C, F],
    down: [F, C],
  };
  return c.layers * targets.reduce((n, t) => n + rank * (sides[t][0] + sides[t][1]), 0);
}

/** Bytes as GiB with two decimals, e.g. "3.41 GiB". */
export function formatGiB(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}
