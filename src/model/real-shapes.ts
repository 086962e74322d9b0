/**
 * The paper's model shapes, for measuring speed and memory with random weights
 * (no weights can be downloaded where reasonrl is tested): DeepSeek-R1-Distill-
 * Qwen-1.5B, the model it trains, and Qwen2.5-0.5B. Both are Qwen2 (q/k/v biases).
 */
import { type LlamaConfig, parseLlamaConfig } from "./llama.ts";

export const REAL_SHAPES: Record<"0.5b" | "1.5b", LlamaConfig> = {
  /** Qwen2.5-0.5B (tied embeddings). */
  "0.5b": parseLlamaConfig({
    vocabSize: 151936,
    hidden: 896,
    layers: 24,
    heads: 14,
    kvHeads: 2,
    ffn: 4864,
    ropeTheta: 1e6,
    tieEmbeddings: true,
    attentionBias: true,
  }),
  /** DeepSeek-R1-Distill-Qwen-1.5B. */
  "1.5b": parseLlamaConfig({
    vocabSize: 151936,
    hidden: 1536,
    layers: 28,
    heads: 12,
    kvHeads: 2,
    ffn: 8960,
    ropeTheta: 10000,
    tieEmbeddings: false,
    attentionBias: true,
  }),
};
