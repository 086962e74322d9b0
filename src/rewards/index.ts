/**
 * reasonrl's reward functions: built-ins by name (registry.ts), their weighted
 * composition with user rewards from modules (compose.ts), and the paper's
 * set-ups (recipes.ts).
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
export {
  defineReward,
  perItem,
  type RewardContext,
  type RewardDefinition,
  type RewardFn,
  type RewardInput,
} from "./types.ts";
