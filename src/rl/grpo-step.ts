/**
 * One GRPO step, as data: prompts -> G completions each from the current
 * policy -> rewards -> group-relative advantages -> policy ("old") and
 * reference log-probs on the same tokens -> clipped-surrogate + k3 loss,
 * chunked over the vocabulary -> AdamW, numIterations times on the same batch.
 * The training half (scoring and updates, in micro-batches with gradient
 * accumulation) is in grpo-update.ts.
 *
 * Two options of DAPO shape the batch before training: dynamic sampling drops
 * the groups whose rewards are all equal and generates more prompts in their
 * place; overlong filtering gives no loss weight to completions cut at maxTokens.
 */
import { z } from "zod";
import type { AdamW, Engine } from "../engine/index.ts";
import type { Completion, Generator } from "../generate/types.ts";
import type { LlamaConfig, LlamaWeights } from "../model/llama.ts";
import { AdvantageOptions, meanGroupStd } from "./advantages.ts";
import { type ScoredGroup, trainingRows } from "./grpo-batch.ts";
import { GrpoLossOptions } from "./grpo-loss.ts";
import { grpoUpdates } from "./grpo-update.ts";

export const DynamicSamplingOptions = z.object({
  /** Generation rounds at most, the first one included; each later round asks `refill` for prompts. */
  maxRounds: z.number().int().positive().default(3),
});

export const GrpoStepOptions = z.object({
  /** Completions per prompt (G; the paper: 6). */
  groupSize: z.number().int().min(2),
  /** Sampling temperature of the rollouts (the paper: 0.7). */
  temperature: z.number().min(0).default(0.7),
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
   * grpoStep's `refill` are generated in their place until as many informative
   * groups as prompts given are kept, or maxRounds rounds were made (without
   * `refill`, only the dropping). `true` = { maxRounds: 3 }; false = off.
   */
  dynamicSampling: z.union([z.boolean(), DynamicSamplingOptions]).default(false),
  /**
   * DAPO's overlong filtering (TRL's mask_truncated_completions): completions cut
   * at maxTokens get no loss weight. They still count in the reward metrics.
   */
  overlongFilter: z.boolean().default(false),
});
export type GrpoStepOptions = z.input<typeof GrpoStepOptions>;
type ParsedOptions = z.output<typeof GrpoStepOptions>;

/**
 * One completion to score: which prompt it answers (an index into the prompts
 * given to grpoStep followed by those `refill` gave, in order), its text and token ids.
 */
export interface ScoredCompletion {
  prompt: number;
  text: string;
  ids: Int32Array;
}

/** Scores a batch of completions (the caller composes reward functions, e.g. with src/rewards). */
export type RewardFn = (completions: ScoredCompletion[]) => Promise<ArrayLike<number>> | ArrayLike<number>;

/**
 * More prompts for dynamic sampling: at most `count` of them for generation
 * round `round` (1, 2, ...; round 0 is the prompts given). Fewer (none) when the data runs out.
 */
export type RefillFn = (round: number, count: number) => Int32Array[];

export interface GrpoModels {
  engine: Engine;
  config: LlamaConfig;
  policy: LlamaWeights;
  /** The frozen reference model (needed when beta > 0). */
  reference?: LlamaWeights;
  generator: Generator;
  optimizer: AdamW;
}

/** Why a step made no (or not every) optimizer update. */
export type SkipReason = "no informative group" | "every completion overlong" | "non-finite gradient";

/**
 * What a step reports. The rollout metrics (reward to clipped_fraction) cover
 * every scored completion, those that dynamic sampling dropped or overlong
 * filtering masked included. The training metrics (kl, entropy, clip_ratio)
 * cover the trained completion tokens, each measured with the policy before
 * each update and averaged over the numIterations updates; loss (summed over
 * the micro-batches) and grad_norm are the last update's. No metric depends on
 * microBatch (up to float rounding). A skipped step reports 0 for all training metrics.
 */
export interface GrpoStepMetrics {
  /** Mean reward. */
  reward: number;
  /** Mean over groups of the reward's std within the group (TRL's reward_std). */
  reward_std: number;
  completion_length: number;
  completion_length_max: number;
  /** Share of completions cut at maxTokens. */
  clipped_fraction: number;
  /** Groups trained on (dynamic sampling keeps the informative ones only). */
  groups_kept: number;
  /** Generation rounds made (1 without dynamic sampling). */
  generation_rounds: number;
  /** Mean k3 KL to the reference over completion tokens (0 without a reference). */
  kl: number;
  /** Mean entropy of the policy's next-token distribution (temperature 1) over completion tokens. */
  entropy: number;
  /**
   * Share of completion tokens whose ratio exp(lp - old) is clipped where the
   * clip binds (TRL's clip_ratio): below 1 - epsLow with a negative advantage,
   * above 1 + epsHigh with a positive one. 0 when numIterations is 1.
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
  /** Seconds spent scoring (the reward functions, the verifier). */
  score_s: number;
  /** Seconds spent training: the old and reference log-probs, then the updates. */
  train_s: number;
}

/**
 * Runs one step on `prompts` (token ids) with learning rate `lr`; `seed` makes
 * the rollouts reproducible. `refill` serves dynamic sampling (see its option).
 */
export async function grpoStep(
  m: GrpoModels,
  prompts: Int32Array[],
  reward: RewardFn,
  options: GrpoStepOptions & { lr: number; seed: number },
  refill?: RefillFn,
): Promise<GrpoStepMetrics> {
  const o = GrpoStepOptions.parse(options);
  if (prompts.length === 0) throw new Error("grpo: no prompts");
  const rollout = await rollOut(m, prompts, reward, o, options.seed, refill);
  const generated = rolloutMetrics(rollout, o.groupSize);
  const skip = (reason: SkipReason): GrpoStepMetrics => ({
    ...generated,
    kl: 0,
    entropy: 0,
    clip_ratio: 0,
    loss: 0,
    grad_norm: 0,
    lr: options.lr,
    skipped: true,
    skip_reason: reason,
    score_s: rollout.scoreSeconds,
    train_s: 0,
  });
  if (rollout.kept.length === 0) return skip("no informative group");
  const rows = trainingRows(rollout.kept, { ...o, lossType: o.loss.lossType });
  if (rows.length === 0) return skip("every completion overlong");

  const trained = await grpoUpdates(m, rows, o, options.lr);
  return {
    ...generated,
    ...trained.metrics,
    score_s: rollout.scoreSeconds,
    train_s: trained.logProbSeconds + trained.trainSeconds,
  };
}

/** The groups of a step's generation rounds. */
interface Rollout {
  /** Every group generated and scored, in the order of the prompts' indices. */
  groups: ScoredGroup[];
  /** The groups to train on: all of them, or with dynamic sampling the informative ones. */
  kept: ScoredGroup[];
  rounds: number;
  generateSeconds: number;
  scoreSeconds: number;
}

/** Generates and scores groups, in rounds when dynamic sampling asks for more. */
async function rollOut(
  m: GrpoModels,
  prompts: Int32Array[],
  reward: RewardFn,
  o: ParsedOptions,
  seed: number,
  refill: RefillFn | undefined,
): Promise<Rollout> {
  const G = o.groupSize;
  const dynamic = o.dynamicSampling === true ? DynamicSamplingOptions.parse({}) : o.dynamicSampling || null;
  const out: Rollout = { groups: [], kept: [], rounds: 0, generateSeconds: 0, scoreSeconds: 0 };
  let batch = prompts;
  while (batch.length > 0) {
    const t0 = performance.now();
    const generated = await m.generator.generate(batch, {
      n: G,
      temperature: o.temperature,
      maxTokens: o.maxTokens,
      seed: roundSeed(seed, out.rounds),
    });
    const t1 = performance.now();
    // The index of this round's first prompt among all rounds' prompts is the number of groups so far.
    const rewards = await score(reward, generated.flat(), out.groups.length, G);
    out.generateSeconds += (t1 - t0) / 1000;
    out.scoreSeconds += (performance.now() - t1) / 1000;
    out.rounds++;
    for (const [i, completions] of generated.entries()) {
      const group = { prompt: batch[i], completions, rewards: rewards.subarray(i * G, (i + 1) * G) };
      out.groups.push(group);
      if (!dynamic || group.rewards.some((r) => r !== group.rewards[0])) out.kept.push(group);
    }
    const missing = prompts.length - out.kept.length;
    if (!dynamic || !refill || missing === 0 || out.rounds >= dynamic.maxRounds) break;
    batch = refill(out.rounds, missing);
    if (batch.length > missing) {
      throw new Error(`grpo: refill gave ${batch.length} prompts for round ${out.rounds}, ${missing} asked`);
    }
  }
  return out;
}

/**
 * The sampling seed of generation round `round`: the step's seed for the
 * first, then one mixed from both, so that rounds (and the next steps' seeds,
 * often seed + 1, ...) sample differently.
 */
function roundSeed(seed: number, round: number): number {
  if (round === 0) return seed;
  return Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) ^ Math.imul(round, 0x165667b1);
}

/** The rewards of completions (groups of G, the first answering prompt `firstPrompt`), checked. */
async function score(
  reward: RewardFn,
  completions: Completion[],
  firstPrompt: number,
  G: number,
): Promise<Float32Array> {
  const scored = await reward(
    completions.map((c, i) => ({ prompt: firstPrompt + Math.floor(i / G), text: c.text, ids: c.ids })),
  );
  const rewards = Float32Array.from(scored);
  if (rewards.length !== completions.length || !rewards.every(Number.isFinite)) {
    throw new Error(
      `grpo: the reward function gave ${rewards.length} finite scores for ${completions.length} completions`,
    );
  }
  return rewards;
}

/** The metrics of the rollout: every scored completion counts. */
function rolloutMetrics(rollout: Rollout, G: number) {
  const completions = rollout.groups.flatMap((g) => g.completions);
  const rewards = rollout.groups.flatMap((g) => Array.from(g.rewards));
  const lengths = completions.map((c) => c.ids.length);
  const n = completions.length;
  return {
    reward: rewards.reduce((a, b) => a + b, 0) / n,
    reward_std: meanGroupStd(rewards, G),
    completion_length: lengths.reduce((a, b) => a + b, 0) / n,
    completion_length_max: Math.max(...lengths),
    clipped_fraction: completions.filter((c) => c.finishReason === "length").length / n,
    groups_kept: rollout.kept.length,
    generation_rounds: rollout.rounds,
    generate_s: rollout.generateSeconds,
  };
}
