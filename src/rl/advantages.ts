/**
 * Group-relative advantages (GRPO): each completion's reward compared with the
 * other completions of the same prompt, A_i = (r_i - mean_g) / (std_g + eps),
 * as TRL computes them (std unbiased, N - 1; eps 1e-4), with the later
 * variants: std of the whole batch ("batch", Lite PPO) or none ("none", Dr. GRPO).
 */
import { z } from "zod";

export const AdvantageOptions = z.object({
  /** Completions per prompt (G); groups are consecutive blocks of G rewards. */
  groupSize: z.number().int().positive(),
  /** Divide by the group's std ("group", the paper), the batch's ("batch"), or not ("none"). */
  scale: z.enum(["group", "batch", "none"]).default("group"),
  /** Added to the std before dividing. */
  eps: z.number().nonnegative().default(1e-4),
});

/** Mean and unbiased std of xs (std 0 for a single value). */
function meanStd(xs: ArrayLike<number>, from: number, to: number): { mean: number; std: number } {
  const n = to - from;
  let mean = 0;
  for (let i = from; i < to; i++) mean += xs[i];
  mean /= n;
  let ss = 0;
  for (let i = from; i < to; i++) ss += (xs[i] - mean) ** 2;
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0 };
}

/** The advantage of each completion; rewards.length must be a multiple of groupSize. */
export function groupAdvantages(
  rewards: ArrayLike<number>,
  options: z.input<typeof AdvantageOptions>,
): Float32Array {
  const { groupSize: G, scale, eps } = AdvantageOptions.parse(options);
  if (rewards.length % G !== 0) {
    throw new Error(`advantages: ${rewards.length} rewards are not whole groups of ${G}`);
  }
  const batchStd = meanStd(rewards, 0, rewards.length).std;
  const out = new Float32Array(rewards.length);
  for (let g = 0; g < rewards.length; g += G) {
    const { mean, std } = meanStd(rewards, g, g + G);
    const div = scale === "group" ? std + eps : scale === "batch" ? batchStd + eps : 1;
    for (let i = g; i < g + G; i++) out[i] = (rewards[i] - mean) / div;
  }
  return out;
}

/** Mean of the groups' reward std (TRL's logged reward_std). */
export function meanGroupStd(rewards: ArrayLike<number>, groupSize: number): number {
  let total = 0;
  for (let g = 0; g < rewards.length; g += groupSize) total += meanStd(rewards, g, g + groupSize).std;
  return total / (rewards.length / groupSize);
}
