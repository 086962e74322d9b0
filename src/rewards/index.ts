/**
 * reasonrl's rewards: the terms built in by name (registry.ts), their weighted
 * composition with user terms from modules (compose.ts), open-rs's rewards as
 * the paper ran them (upstream.ts), the paper's set-ups (recipes.ts), and GRPO's
 * reward function made of them (reward-function.ts).
 */
export {
  accuracy,
  CorrectnessParams,
  JUDGE_RULES,
  type JudgeRules,
  judge,
  type Verdict,
} from "./accuracy.ts";
export {
  type ComposedReward,
  composeRewards,
  type RewardError,
  type RewardScores,
  type RewardSpec,
  RewardSpecSchema,
  type RewardsConfig,
  RewardsConfigSchema,
} from "./compose.ts";
export { FormatParams, format, TagCountParams, tagCount } from "./format.ts";
export { LanguageParams, language } from "./language.ts";
export {
  COSINE_PAPER,
  CosineParams,
  cosine,
  cosineScaled,
  cosineTerm,
  KimiLengthParams,
  kimiLength,
  kimiLengthTerm,
  lengthOf,
  OverlongParams,
  softOverlong,
} from "./length.ts";
export { ReasoningStepsParams, reasoningSteps } from "./reasoning-steps.ts";
export { REWARD_RECIPES, type RewardRecipeName } from "./recipes.ts";
export { createReward, getReward, registerReward, rewardNames } from "./registry.ts";
export { RepetitionParams, repetition } from "./repetition.ts";
export { rewardFunction } from "./reward-function.ts";
export {
  defineReward,
  perGroup,
  perItem,
  type RewardContext,
  type RewardDefinition,
  type Rewarded,
  type RewardFunction,
  type RewardInput,
  type RewardTerm,
} from "./types.ts";
export {
  accuracyUpstream,
  CosineUpstreamParams,
  cosineUpstream,
  lengthUpstream,
  OPEN_RS_ANSWER_EXTRACTION,
  OPEN_RS_GOLD_EXTRACTION,
  OPEN_RS_RULES,
} from "./upstream.ts";
