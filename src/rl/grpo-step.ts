/**
 * One GRPO step, top to bottom, in two halves (grpoStep below runs one after the other):
 *
 *   grpoRollout:
 *   prompts -> G completions each from the policy, rewarded     rollout.ts
 *   grpoTrain:
 *           -> group-relative advantages and loss weights       grpo-batch.ts, advantages.ts
 *           -> micro-batches with the reference's log-probs     grpo-update.ts (fixedLogProbs)
 *              (and the "old" policy's when numIterations > 1 or with TIS)
 *           -> numIterations x (loss, backward, AdamW)          grpo-update.ts, grpo-loss.ts
 *           -> the step's metrics
 *
 * The halves are apart so that the loop (trainer.ts) can sample the next step's
 * rollout while this one trains (offPolicy 1): each rollout carries the version
 * of the weights that sampled it, and the training half reports how far behind
 * its own weights that is (policy_lag).
 *
 * Two options of DAPO shape the batch before training: dynamic sampling drops
 * the groups whose rewards are all equal and generates more prompts in their
 * place; overlong filtering gives no loss weight to completions cut at maxTokens.
 */
import { z } from "zod";
import type { RewardFunction } from "../rewards/types.ts";
import type { TrainModels } from "../train/models.ts";
import { microBatches } from "../train/token-batch.ts";
import { AdvantageOptions, meanGroupStd } from "./advantages.ts";
import { trainingRows } from "./grpo-batch.ts";
import { GrpoLossOptions } from "./grpo-loss.ts";
import { fixedLogProbs, grpoUpdates, lossBatch, samplerComparable } from "./grpo-update.ts";
import type { PromptSource, TrainingPrompt } from "./prompts.ts";
import { DynamicSamplingOptions, type Rollout, rollOut } from "./rollout.ts";
import { type RolloutSample, rolloutSamples } from "./rollout-samples.ts";

/** The options of a GRPO step (the `grpo` section of a recipe holds them, with the loop's). */
export const GrpoOptions = z.object({
  /** Completions per prompt (G; the paper: 6). */
  groupSize: z.number().int().min(2),
  /** Sampling temperature of the rollouts (the paper: 0.7). */
  temperature: z.number().min(0).default(0.7),
  /**
   * TRL >= 0.16: the policy's, the reference's and the old log-probs of the loss (and the
   * entropy metric) come from the logits divided by `temperature`, the distribution the
   * completions were sampled from. Off (the paper's TRL, 69ad852e grpo_trainer.py:618-627):
   * they are recomputed at temperature 1, whatever the sampling temperature.
   */
  logitsAtSamplingTemperature: z.boolean().default(false),
  /** Max completion tokens (the paper: 4096 / 3584). */
  maxTokens: z.number().int().positive(),
  scaleRewards: AdvantageOptions.shape.scale,
  loss: GrpoLossOptions.default(GrpoLossOptions.parse({})),
  /** Rows of the vocabulary projection computed at once. */
  chunkRows: z.number().int().positive().default(1024),
  /**
   * Optimizer updates per generated batch (TRL's num_iterations, mu; the paper: 1).
   * The policy's log-probs before the first update are the "old" ones of all
   * updates, so from the second update on the ratio leaves 1 and the clip binds.
   * Every update uses the step's learning rate.
   */
  numIterations: z.number().int().positive().default(1),
  /**
   * Rows (completions) per forward/backward pass; unset = all the step's rows in
   * one pass. The rows are cut into consecutive micro-batches, each padded to its
   * own longest row; their gradients accumulate and each update makes one
   * optimizer step. The loss is normalised over the whole step, so the update is
   * the same for any value (up to float rounding): only memory and speed change.
   */
  microBatch: z.number().int().positive().optional(),
  /**
   * DAPO's dynamic sampling (not in TRL): groups whose G rewards are all equal
   * have no advantage and teach nothing, so they are dropped, and prompts from
   * the step's prompt source are generated in their place until as many
   * informative groups as prompts given are kept, or maxRounds rounds were made
   * (without a source, only the dropping). `true` = { maxRounds: 3 }; false = off.
   */
  dynamicSampling: z
    .union([z.boolean(), DynamicSamplingOptions])
    .default(false)
    .transform((d) => (d === true ? DynamicSamplingOptions.parse({}) : d)),
  /**
   * DAPO's overlong filtering (TRL's mask_truncated_completions): completions cut
   * at maxTokens get no loss weight. They still count in the reward metrics.
   */
  overlongFilter: z.boolean().default(false),
});
export type GrpoOptions = z.output<typeof GrpoOptions>;
export type GrpoOptionsInput = z.input<typeof GrpoOptions>;

/** What changes from step to step. */
export interface GrpoStepInput {
  /** The step's prompts (one group each). */
  prompts: readonly TrainingPrompt[];
  /** Where dynamic sampling gets more prompts (none: it only drops constant groups). */
  source?: PromptSource;
  /** Learning rate of the step's updates. */
  lr: number;
  /** Sampling seed of the step's first generation round (src/train/seeds.ts). */
  seed: number;
  /** The version of the policy's weights (see StepRollout.policyVersion; default 0). */
  policyVersion?: number;
}

/** What the rollout half reads of a step (GrpoStepInput without the learning rate). */
export type GrpoRolloutInput = Omit<GrpoStepInput, "lr">;

/** A step's rollout, as the training half takes it. */
export interface StepRollout {
  rollout: Rollout;
  /** Every generated completion with its rewards and advantage, in generation order. */
  samples: RolloutSample[];
  /**
   * The version of the weights that sampled it: the number of GRPO steps whose updates
   * they had seen (each step makes numIterations optimizer steps; a skipped one counts).
   */
  policyVersion: number;
}

/** Why a step made no (or not every) optimizer update. */
export type SkipReason = "no informative group" | "every completion overlong" | "non-finite gradient";

/**
 * What a step reports. The rollout metrics (reward to clipped_fraction, and the
 * reward function's own) cover every rewarded completion, those that dynamic
 * sampling dropped or overlong filtering masked included. The training metrics
 * (kl, entropy, clip_ratio) cover the trained completion tokens, each measured
 * with the policy before each update and averaged over the numIterations
 * updates; loss (summed over the micro-batches) and grad_norm are the last
 * update's. No metric depends on microBatch (up to float rounding). A skipped
 * step reports 0 for all training metrics.
 */
export interface GrpoStepMetrics {
  /** Mean reward. */
  reward: number;
  /** Mean over groups of the reward's std within the group (TRL's reward_std). */
  reward_std: number;
  /** The reward function's metrics: each term's mean (`reward_<name>`), train_accuracy, ... */
  [rewardMetric: string]: number | boolean | string | undefined;
  completion_length: number;
  completion_length_max: number;
  /** Share of completions cut at maxTokens. */
  clipped_fraction: number;
  /** Groups trained on (dynamic sampling keeps the informative ones only). */
  groups_kept: number;
  /** Generation rounds made (1 without dynamic sampling). */
  generation_rounds: number;
  /**
   * Mean k3 KL to the reference over completion tokens (0 without a reference): token-weighted,
   * where the paper's TRL averaged each completion's mean (grpo_trainer.py:921-923 at 69ad852e).
   */
  kl: number;
  /**
   * Mean entropy of the policy's next-token distribution over completion tokens, at
   * temperature 1 (at the sampling temperature with logitsAtSamplingTemperature).
   */
  entropy: number;
  /**
   * Share of completion tokens whose ratio exp(lp - old) is clipped where the
   * clip binds (TRL's clip_ratio): below 1 - epsLow with a negative advantage,
   * above 1 + epsHigh with a positive one. 0 when numIterations is 1. (The paper's TRL
   * counted the tokens where ratio * A < clip(ratio) * A, grpo_trainer.py:925-926.)
   */
  clip_ratio: number;
  loss: number;
  grad_norm: number;
  lr: number;
  /** True when an update was skipped, or the whole step (see skip_reason). */
  skipped: boolean;
  skip_reason?: SkipReason;
  /** Seconds spent generating. */
  generate_s: number;
  /** Seconds spent in the reward function (the rewards, the verifier). */
  reward_s: number;
  /** Seconds spent training: the fixed log-probs, then the updates. */
  train_s: number;
  /**
   * Versions (GRPO steps) the weights that sampled the batch were behind those trained:
   * 0 on-policy, 1 in one-step-off-policy mode (trainer.ts offPolicy).
   */
  policy_lag: number;
  /**
   * The sampler/trainer mismatch over the trained completion tokens (grpo-update.ts): mean and
   * max |lp_train - lp_sampler|, and mean exp(lp_train - lp_sampler), lp_train the trainer's
   * log-probs with the weights before the update. Left out unless both are at the same
   * temperature (temperature 1, or logitsAtSamplingTemperature), and on a skipped step.
   */
  logprob_diff_mean?: number;
  logprob_diff_max?: number;
  logprob_ratio_mean?: number;
  /** With grpo.loss.tis: the mean TIS weight, and the share of tokens at the cap. */
  tis_weight_mean?: number;
  tis_capped_fraction?: number;
}

/** What a step gives back: its metrics, and every completion it rewarded. */
export interface GrpoStepResult {
  metrics: GrpoStepMetrics;
  /** Every generated completion with its rewards and advantage, in generation order. */
  samples: RolloutSample[];
}

/** One GRPO step with options `o` (parsed: GrpoOptions.parse): its rollout, then its training on it. */
export async function grpoStep(
  m: TrainModels,
  reward: RewardFunction,
  o: GrpoOptions,
  step: GrpoStepInput,
): Promise<GrpoStepResult> {
  const rolled = await grpoRollout(m, reward, o, step);
  const metrics = await grpoTrain(m, o, rolled, { lr: step.lr, policyVersion: rolled.policyVersion });
  return { metrics, samples: rolled.samples };
}

/** The rollout half of a step: G completions per prompt from the policy, rewarded. */
export async function grpoRollout(
  m: TrainModels,
  reward: RewardFunction,
  o: GrpoOptions,
  step: GrpoRolloutInput,
): Promise<StepRollout> {
  if (step.prompts.length === 0) throw new Error("grpo: no prompts");
  if (!m.generator) throw new Error("grpo: the models have no generator to sample from the policy");
  checkTemperatures(o);
  // G completions per prompt, rewarded (in more rounds with dynamic sampling)
  const rollout = await rollOut(m.generator, step.prompts, step.source, reward, o, step.seed);
  const policyVersion = step.policyVersion ?? 0;
  return { rollout, samples: rolloutSamples(rollout, { ...o, policyVersion }), policyVersion };
}

/**
 * The training half of a step on `rolled`, at learning rate `lr`, with weights of
 * version `policyVersion` (the rollout's, on-policy).
 */
export async function grpoTrain(
  m: TrainModels,
  o: GrpoOptions,
  rolled: StepRollout,
  step: { lr: number; policyVersion: number },
): Promise<GrpoStepMetrics> {
  checkTemperatures(o);
  const { rollout } = rolled;
  const lag = { policy_lag: step.policyVersion - rolled.policyVersion };
  if (rollout.kept.length === 0) return skippedStep(rollout, o, step.lr, "no informative group", lag);

  // 1. advantages within each group and loss weights over the step: the training rows
  const rows = trainingRows(rollout.kept, { ...o, lossType: o.loss.lossType });
  if (rows.length === 0) return skippedStep(rollout, o, step.lr, "every completion overlong", lag);

  // 2. micro-batches with the log-probs that stay fixed through the updates
  const t0 = performance.now();
  const batches = await fixedLogProbs(m, microBatches(rows, o.microBatch).map(lossBatch), o);

  // 3. numIterations x (loss and backward over the micro-batches, one AdamW step)
  const trained = await grpoUpdates(m, batches, o, step.lr);

  // 4. the step's metrics
  const train_s = (performance.now() - t0) / 1000;
  return { ...rolloutMetrics(rollout, o.groupSize), ...trained, train_s, ...lag };
}

/** Throws for temperature options that cannot go together, naming the field. */
function checkTemperatures(o: GrpoOptions): void {
  if (o.logitsAtSamplingTemperature && !(o.temperature > 0))
    throw new Error("grpo: logitsAtSamplingTemperature needs a sampling temperature > 0");
  if (o.loss.tis && !samplerComparable(o))
    throw new Error("grpo.loss.tis needs logitsAtSamplingTemperature or temperature 1");
}

/** A step that made no update: its rollout metrics, 0 for the training ones. */
function skippedStep(
  rollout: Rollout,
  o: GrpoOptions,
  lr: number,
  reason: SkipReason,
  lag: { policy_lag: number },
): GrpoStepMetrics {
  const zero = { kl: 0, entropy: 0, clip_ratio: 0, loss: 0, grad_norm: 0, train_s: 0 };
  return {
    ...rolloutMetrics(rollout, o.groupSize),
    ...zero,
    lr,
    skipped: true,
    skip_reason: reason,
    ...lag,
  };
}

/** The metrics of the rollout: every rewarded completion counts. */
function rolloutMetrics(rollout: Rollout, G: number) {
  const completions = rollout.groups.flatMap((g) => g.completions);
  const rewards = rollout.groups.flatMap((g) => Array.from(g.rewards));
  const lengths = completions.map((c) => c.ids.length);
  const n = completions.length;
  return {
    reward: rewards.reduce((a, b) => a + b, 0) / n,
    reward_std: meanGroupStd(rewards, G),
    ...rollout.rewardMetrics,
    completion_length: lengths.reduce((a, b) => a + b, 0) / n,
    completion_length_max: Math.max(...lengths),
    clipped_fraction: completions.filter((c) => c.finishReason === "length").length / n,
    groups_kept: rollout.kept.length,
    generation_rounds: rollout.rounds,
    generate_s: rollout.generateSeconds,
    reward_s: rollout.rewardSeconds,
  };
}
