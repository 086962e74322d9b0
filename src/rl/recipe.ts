/**
 * A training recipe: everything a run needs, as one YAML file checked by the
 * zod schemas below (which double as its documentation). A recipe names the
 * model, the prompt, the data, an optional SFT stage, the GRPO stage with its
 * rewards, held-out evaluation and checkpointing. `reasonrl train RECIPE
 * --set grpo.steps=10` overrides any field by its dotted path (list items by
 * index or name: `--set grpo.rewards.rewards.accuracy.weight=1`, src/data/overrides.ts).
 *
 * Paths in a recipe are relative to the working directory.
 */
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { applyOverrides } from "../data/overrides.ts";
import { ProblemSource } from "../data/problems.ts";
import { ArithmeticTaskOptions } from "../data/synthetic/arithmetic.ts";
import { AdamWOptions } from "../engine/adamw.ts";
import { LoraConfig } from "../model/lora.ts";
import { RewardsConfigSchema } from "../rewards/compose.ts";
import { REWARD_RECIPES } from "../rewards/recipes.ts";
import { GuardsConfig } from "../track/guards.ts";
import { ScheduleOptions } from "../train/schedule.ts";
import { GrpoOptions } from "./grpo-step.ts";
import { RolloutSection, rolloutProblems } from "./rollout-target.ts";

/** The architecture of a model made from scratch (field names as in ModelConfig, src/model/hf-config.ts). */
const InitConfig = z
  .object({
    /** "qwen2" (attention biases, as DeepSeek-R1-Distill-Qwen), "llama" or "qwen3". */
    arch: z.enum(["qwen2", "llama", "qwen3"]).default("qwen2"),
    /** Width of the residual stream (hidden_size). */
    hidden: z.number().int().positive(),
    layers: z.number().int().positive(),
    heads: z.number().int().positive(),
    kvHeads: z.number().int().positive(),
    /** Width of the MLP (intermediate_size). */
    ffn: z.number().int().positive(),
    maxPositions: z.number().int().positive().default(512),
    tieEmbeddings: z.boolean().default(true),
  })
  .strict();

export const ModelSection = z
  .object({
    /** A model folder in the Hugging Face layout (config.json, model.safetensors, tokenizer.json). */
    path: z.string().min(1),
    /**
     * Make the model from scratch, with the arithmetic task's character tokenizer, when `path` does
     * not exist yet (the demo). Leave out for a real model.
     */
    init: z
      .object({ tokenizer: z.literal("arithmetic"), config: InitConfig, seed: z.number().int().default(0) })
      .optional(),
    /**
     * Storage of the frozen weight matrices: the base under LoRA adapters (f32, f16, bf16, or
     * q8_0 as QLoRA does), or the GRPO reference of a full fine-tune (f32 or bf16). f16/bf16 halve
     * their memory, q8_0 nearly quarters it. Trained weights, adapters and optimizer state stay f32.
     */
    dtype: z.enum(["f32", "f16", "bf16", "q8_0"]).default("f32"),
    /** The compute device: "cpu", "vulkan:0", "cuda:0", "metal", ... (what `reasonrl devices` lists). */
    device: z.string().min(1).default("cpu"),
    /** Train LoRA adapters instead of all weights (PEFT layout on save). */
    lora: LoraConfig.optional(),
    /** Compute threads (default: the engine's choice, one per core). */
    threads: z.number().int().positive().optional(),
  })
  .strict();

export const PromptSection = z
  .object({
    /**
     * The system message: "open-rs" (the paper's Exp 3 prompt), "open-rs-no-language" (Exp 1/2: without
     * its last sentence), any other text as is, or null for none.
     */
    system: z.string().nullable().default(null),
    /** The user message; {problem} is replaced by the problem statement. */
    user: z.string().default("{problem}"),
  })
  .strict();

/** SFT examples: prompt/completion pairs from JSONL, or the arithmetic task's traces. */
export const SftDataSource = z.union([
  z
    .object({
      path: z.string().min(1),
      /** Field of the prompt, put through the recipe's prompt template. Default "problem". */
      promptField: z.string().default("problem"),
      /** Field of the completion that follows the generation prompt. Default "completion". */
      completionField: z.string().default("completion"),
      limit: z.number().int().positive().optional(),
    })
    .strict(),
  z
    .object({
      synthetic: z.literal("arithmetic"),
      task: ArithmeticTaskOptions.default(ArithmeticTaskOptions.parse({})),
      count: z.number().int().positive(),
      seed: z.number().int().nonnegative().default(0),
      /** Share of traces that answer at once, without working (a weak start for RL to improve). */
      directRate: z.number().min(0).max(1).default(0),
      /** Share of traces with one arithmetic slip. */
      slipRate: z.number().min(0).max(1).default(0),
    })
    .strict(),
]);
export type SftDataSource = z.output<typeof SftDataSource>;

/** The learning-rate schedule of a stage (its peak is the optimizer's lr). */
const StageSchedule = ScheduleOptions.omit({ lr: true, totalSteps: true }).strict();

export const SftSection = z
  .object({
    data: SftDataSource,
    steps: z.number().int().positive(),
    /** Examples per optimizer step. */
    batchSize: z.number().int().positive().default(32),
    /** Examples per forward/backward pass (gradient accumulation; default: the whole batch at once). */
    microBatch: z.number().int().positive().optional(),
    /** Rows of the vocabulary projection computed at once. */
    chunkRows: z.number().int().positive().default(1024),
    optimizer: AdamWOptions.default(AdamWOptions.parse({})),
    schedule: StageSchedule.default(StageSchedule.parse({})),
  })
  .strict();

/**
 * The GRPO stage. With the paper recipes' values it computes what TRL at the
 * paper's commit (69ad852e) computed, except for these choices, made on purpose
 * (the `describe` texts below say the same where each applies):
 * - prompts are cut to maxPromptTokens BEFORE sampling, so the policy samples
 *   from the prompt it is trained on; TRL cut the prompt ids for training but
 *   sent the whole prompt text to vLLM (grpo_trainer.py:688-707);
 * - the `kl` metric is the mean over all completion tokens; TRL averaged each
 *   completion's token mean (grpo_trainer.py:921-923), so long completions count more here;
 * - `clip_ratio` follows TRL's later rule (a token counts where the clip binds
 *   for its advantage's sign); the pinned TRL counted per_token_loss1 <
 *   per_token_loss2 (grpo_trainer.py:925-926). Both are 0 with numIterations 1;
 * - log-probs of the loss are recomputed at temperature 1, as the pinned TRL
 *   did (the sampler's temperature-T log-probs are not the ratio's "old" ones);
 *   logitsAtSamplingTemperature gives TRL >= 0.16's logits / T.
 */
export const GrpoSection = GrpoOptions.extend({
  /** Optimizer steps (TRL max_steps; the paper's best checkpoints came at 50-100). */
  steps: z.number().int().positive(),
  /** Distinct prompts per step (the paper: 12, each sampled groupSize = 6 times). */
  promptsPerStep: z.number().int().positive(),
  maxPromptTokens: z
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      "Longer prompts keep their last N tokens, as TRL's max_prompt_length (the paper: 512). Unlike the " +
        "paper's TRL, which sent the whole prompt to vLLM and cut it only for training, the cut prompt is " +
        "also what the policy samples from.",
    ),
  rewards: z
    .union([z.enum(Object.keys(REWARD_RECIPES) as [keyof typeof REWARD_RECIPES]), RewardsConfigSchema])
    .describe(
      "A named reward set-up of src/rewards/recipes.ts (the '-upstream' ones are the paper's, as run), " +
        "or the rewards with their weights. Rewards that compare completions see one prompt's group at a time.",
    ),
  optimizer: AdamWOptions,
  schedule: StageSchedule.default(StageSchedule.parse({})),
})
  .strict()
  .describe(
    "GRPO as TRL 69ad852e (the paper's) computed it, but: prompts cut to maxPromptTokens before sampling; " +
      "the kl metric token-weighted (TRL: per-completion means, averaged); clip_ratio by TRL's later rule; " +
      "log-probs at temperature 1 unless logitsAtSamplingTemperature.",
  );

export const EvalSection = z
  .object({
    /** Held-out problems: a file, or the arithmetic task's held-out split. */
    data: ProblemSource,
    /** Evaluate every N GRPO steps (0: only before and after training). */
    every: z.number().int().nonnegative().default(0),
    /** Sampling of the evaluation (the paper's lighteval: T 0.6, top_p 0.95, one sample). */
    temperature: z.number().min(0).default(0.6),
    topP: z.number().gt(0).max(1).default(0.95),
    maxTokens: z.number().int().positive(),
    seed: z.number().int().default(1234),
  })
  .strict();

export const Recipe = z
  .object({
    /** The run's name: it lives in <runsDir>/<name>/. */
    name: z.string().regex(/^[\w.-]+$/, "letters, digits, '.', '-' and '_' only"),
    runsDir: z.string().default("runs"),
    /** Seed of prompt order, sampling and initialisation (the paper: 42). */
    seed: z.number().int().nonnegative().default(42),
    model: ModelSection,
    prompt: PromptSection.default(PromptSection.parse({})),
    /** Training problems for GRPO. */
    data: z.object({ train: ProblemSource }).strict(),
    sft: SftSection.optional(),
    grpo: GrpoSection.optional(),
    eval: EvalSection.optional(),
    /**
     * Guards for the paper's failure modes (src/track/guards.ts): each warns (or stops the run,
     * keeping its best checkpoint) when its rule trips. Every guard is on, warning, by default.
     */
    guards: GuardsConfig.default(GuardsConfig.parse({})),
    /** Where GRPO's rollouts are generated: left out, on the trainer's engine; else a fleet of servers (rollout-target.ts). */
    rollout: RolloutSection.optional(),
    checkpoint: z
      .object({
        /** Save every N steps of a stage (and at its end). */
        every: z.number().int().positive().default(50),
        /** Checkpoints kept per stage (the best one by held-out accuracy is kept apart). */
        keepLast: z.number().int().positive().default(2),
      })
      .strict()
      .default({ every: 50, keepLast: 2 }),
  })
  .strict();
export type Recipe = z.output<typeof Recipe>;
export type RecipeInput = z.input<typeof Recipe>;

/** Checks a recipe object; errors name the field ("grpo.groupSize: ..."). `source` names the file. */
export function parseRecipe(raw: unknown, source = "recipe"): Recipe {
  const parsed = Recipe.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".") || "(top)"}: ${i.message}`);
    throw new Error(`${source}: invalid recipe\n${lines.join("\n")}`);
  }
  const r = parsed.data;
  if (!r.sft && !r.grpo) throw new Error(`${source}: a recipe needs an sft or a grpo section (or both)`);
  const rollout = r.rollout ? rolloutProblems(r.rollout, r.model.lora !== undefined) : [];
  if (rollout.length)
    throw new Error(`${source}: invalid recipe\n${rollout.map((p) => `  ${p}`).join("\n")}`);
  return r;
}

/** Reads a YAML recipe, applies `--set` overrides, and checks it. */
export async function loadRecipe(path: string, sets: readonly string[] = []): Promise<Recipe> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(path, "utf8"));
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null) throw new Error(`${path}: not a YAML mapping`);
  return parseRecipe(applyOverrides(raw as Record<string, unknown>, sets), path);
}
