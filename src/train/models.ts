/**
 * The models a training step works with, one shape for SFT and GRPO: the
 * policy being trained (all its weights, or LoRA adapters over a frozen base),
 * its optimizer and, for GRPO, the frozen reference of the KL term and the
 * generator that samples from the policy.
 */
import type { AdamW, Engine } from "../engine/index.ts";
import type { Generator } from "../generate/types.ts";
import type { LlamaConfig, LlamaWeights } from "../model/llama.ts";

export interface TrainModels {
  engine: Engine;
  /** The architecture of the policy (and of the reference). */
  config: LlamaConfig;
  /** The weights being trained. */
  policy: LlamaWeights;
  /** Updates the policy's trainable tensors. */
  optimizer: AdamW;
  /** The frozen reference model of GRPO's KL term (needed when beta > 0). */
  reference?: LlamaWeights;
  /** Samples completions from the policy (GRPO's rollouts). */
  generator?: Generator;
}
