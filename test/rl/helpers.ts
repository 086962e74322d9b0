/** GRPO test helpers: training prompts by value, and reward functions from plain scorers. */
import type { RewardFunction, RewardInput } from "../../src/rewards/types.ts";
import type { TrainingPrompt } from "../../src/rl/prompts.ts";

/** Training prompts with the given token ids; prompt i (counting from `from`) has row { index: i }. */
export function promptsOf(ids: readonly (readonly number[])[], from = 0): TrainingPrompt[] {
  return ids.map((p, i) => ({
    ids: Int32Array.from(p),
    text: `prompt ${from + i}`,
    row: { index: from + i },
  }));
}

/** The index of the prompt a completion answers (its row's). */
export const promptIndex = (input: RewardInput) => input.row.index as number;

/** A reward function (no metrics) from a scorer of the whole batch. */
export function rewardOf(score: (inputs: readonly RewardInput[]) => ArrayLike<number>): RewardFunction {
  return async (inputs) => ({ rewards: Float32Array.from(score(inputs)), metrics: {} });
}

/** Reward by token ids: the mean id, so different samples of a prompt score differently. */
export const idMean = (inputs: readonly RewardInput[]) =>
  inputs.map((c) => c.completion.tokenIds.reduce((a, b) => a + b, 0) / c.completion.tokenIds.length);

/** The fields of summary.json, for `train` and `demo` alike (src/train/run-folder.ts, RunSummary), sorted. */
export const RUN_SUMMARY_KEYS = [
  "after",
  "before",
  "best",
  "chart",
  "gain_points",
  "grpo_steps",
  "heldout",
  "model",
  "name",
  "sft_steps",
  "significant",
  "stopped",
  "task",
  "wall_s",
];

/**
 * The tiny end-to-end recipe (a 1-layer model made from scratch, 3 SFT + 8 GRPO steps on 2-operand
 * arithmetic, a checkpoint every step), without model.path and runsDir: callers set those.
 */
export function tinyRunRecipe(): Record<string, unknown> {
  const task = { minOperands: 2, maxOperands: 2, maxDigits: 1, heldoutFraction: 0.3 };
  return {
    name: "tiny",
    seed: 3,
    model: {
      init: {
        tokenizer: "arithmetic",
        config: { hidden: 32, layers: 1, heads: 2, kvHeads: 1, ffn: 64, maxPositions: 128 },
      },
      threads: 2,
    },
    data: { train: { synthetic: "arithmetic", task, count: 60, seed: 1 } },
    sft: {
      data: { synthetic: "arithmetic", task, count: 60, seed: 1, directRate: 0.5 },
      steps: 3,
      batchSize: 8,
      optimizer: { lr: 3e-3 },
    },
    grpo: {
      steps: 8,
      promptsPerStep: 2,
      groupSize: 4,
      maxTokens: 12,
      temperature: 1,
      rewards: "open-rs-accuracy",
      optimizer: { lr: 1e-3, maxGradNorm: 1 },
    },
    eval: { data: { synthetic: "arithmetic", task, count: 16, seed: 2 }, every: 4, maxTokens: 12 },
    checkpoint: { every: 1, keepLast: 2 },
  };
}
