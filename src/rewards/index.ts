/**
 * reasonrl's rewards: the terms built in by name (registry.ts), their weighted
 * composition with user terms from modules (compose.ts), the paper's set-ups
 * (recipes.ts), and GRPO's reward function made of them (reward-function.ts).
 */
export { accuracy, CorrectnessParams, judge } from "./accuracy.ts";
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
  KimiLengthParams,
  kimiLength,
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
  perItem,
  type RewardContext,
  type RewardDefinition,
  type Rewarded,
  type RewardFunction,
  type RewardInput,
  type RewardTerm,
} from "./types.ts";
