/**
 * The training rows of a GRPO step, on the host: `trainingRows` turns the
 * rewarded groups into rows, each a completion with its prompt, its
 * group-relative advantage and the loss weight of each of its tokens. (The rows
 * are then cut into micro-batches and padded by src/train/token-batch.ts.)
 *
 * The loss weights are normalised once, over all the rows of the step, before
 * any cut: the losses of the micro-batches then add up to the loss of the whole
 * batch, and their gradients (accumulated by the engine) to its gradient,
 * whatever the micro-batch size. (TRL at the paper's commit normalised per
 * micro-batch, by its tokens, then divided by the number of micro-batches; in
 * the paper's layout a micro-batch was one group, which "bnpo_per_group"
 * reproduces: see grpo-loss.ts.)
 */
import type { z } from "zod";
import type { Sequence } from "../train/token-batch.ts";
import { type AdvantageOptions, groupAdvantages } from "./advantages.ts";
import { type GrpoLossOptions, lossWeights } from "./grpo-loss.ts";
import type { Group } from "./rollout.ts";

/** What trainingRows reads of the step's options (see GrpoOptions). */
export interface TrainingRowOptions {
  groupSize: number;
  scaleRewards: z.output<typeof AdvantageOptions>["scale"];
  lossType: GrpoLossOptions["lossType"];
  maxTokens: number;
  overlongFilter: boolean;
}

/** One row of the batch: a completion (token ids) with the prompt it answers. */
export interface GrpoRow extends Sequence {
  /** The completion's advantage, the same on each of its tokens. */
  advantage: number;
  /** The loss weight of each completion token (see completionWeights). */
  weights: Float32Array;
  /** The sampler's log-prob of each completion token, at its temperature (Completion.logprobs). */
  samplerLogProbs: Float32Array;
}

/**
 * The rows of the groups to train on: advantages within each group, loss
 * weights over all their completions. A completion masked by overlong filtering
 * (cut at maxTokens) has weight 0 on every token, adds nothing to the loss or its
 * gradient, and is left out (it still counts in the normalisers, see completionWeights).
 */
export function trainingRows(groups: readonly Group[], o: TrainingRowOptions): GrpoRow[] {
  const answered = groups.flatMap((g) =>
    g.completions.map((completion) => ({ prompt: g.prompt, completion })),
  );
  const rewards = Float32Array.from(groups.flatMap((g) => Array.from(g.rewards)));
  const advantages = groupAdvantages(rewards, { groupSize: o.groupSize, scale: o.scaleRewards });
  const masked = answered.map((a) => o.overlongFilter && a.completion.finishReason === "length");
  const lengths = answered.map((a) => a.completion.ids.length);
  const weights = completionWeights(lengths, masked, o.lossType, o.maxTokens, o.groupSize);
  const rows = answered.map(({ prompt, completion }, i) => {
    if (completion.logprobs.length !== completion.ids.length)
      throw new Error(
        `grpo: the generator gave ${completion.logprobs.length} log-probs for the ${completion.ids.length} tokens of a completion of "${prompt.text}"`,
      );
    return {
      prompt: prompt.ids,
      completion: completion.ids,
      advantage: advantages[i],
      weights: weights[i],
      samplerLogProbs: completion.logprobs,
    };
  });
  return rows.filter((_, i) => !masked[i]);
}

/**
 * The loss weights of each completion's tokens under the chosen loss type
 * (`lossWeights`), where completions whose `masked` flag is set (overlong
 * filtering) get weight 0 and count as empty, as masked completions do in
 * TRL: they add no tokens to the "bnpo", "bnpo_per_group" and "dapo"
 * normalisers, but still count as sequences for "grpo" and "dr_grpo" (and
 * their group still counts as a group for "bnpo_per_group").
 */
export function completionWeights(
  lengths: readonly number[],
  masked: readonly boolean[],
  lossType: GrpoLossOptions["lossType"],
  maxLength: number,
  groupSize: number,
): Float32Array[] {
  const counted = lengths.map((len, i) => (masked[i] ? 0 : len));
  const flat = lossWeights(counted, lossType, { maxLength, groupSize });
  let at = 0;
  return lengths.map((len, i) => {
    if (masked[i]) return new Float32Array(len);
    at += len;
    return flat.subarray(at - len, at);
  });
}
