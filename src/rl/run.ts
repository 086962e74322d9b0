/**
 * Runs a recipe end to end in its run folder, `<runsDir>/<name>/`
 * (src/train/run-folder.ts: config.yaml, metrics.jsonl, checkpoints/, final/,
 * summary.json).
 *
 * SFT (optional) runs first, then GRPO against a frozen reference: the base
 * under LoRA adapters, else a copy of the model as it was when GRPO started.
 * Held-out accuracy is measured before GRPO, every N steps and after it; the
 * best model is kept in checkpoints/best/.
 *
 * Before anything is loaded or written, every path of the recipe is checked
 * (recipe-paths.ts) and, on an existing run folder, the recipe is compared with
 * the one the run was started with (rerun.ts): running the same recipe again
 * resumes where the run stopped, a different one is refused (unless the
 * changed fields are allowed, and then recorded), and a finished run is not
 * redone (its summary is returned as it was).
 */
import { stringify as toYaml } from "yaml";
import { loadProblems } from "../data/problems.ts";
import { resolveDevice } from "../engine/devices.ts";
import { AdamW, Engine } from "../engine/index.ts";
import type { Accuracy } from "../eval/accuracy.ts";
import { LocalGenerator } from "../generate/local.ts";
import { trainableParameters } from "../model/llama.ts";
import { loadModel } from "../model/load.ts";
import { addLora } from "../model/lora.ts";
import { Tokenizer } from "../model/tokenizer.ts";
import { rewardFunction } from "../rewards/reward-function.ts";
import { type SftRecord, type SftTrainingOptions, trainSft } from "../sft/trainer.ts";
import type { GuardAlert } from "../track/guards.ts";
import { type RolloutFlags, type RolloutRow, RunStore, rolloutFlags } from "../track/store.ts";
import type { TrainModels } from "../train/models.ts";
import { type BestStep, RunFolder, type RunSummary } from "../train/run-folder.ts";
import { VerifierPool } from "../verify/pool.ts";
import { assertRunFits, planRun } from "./plan.ts";
import type { Recipe } from "./recipe.ts";
import { checkRecipePaths } from "./recipe-paths.ts";
import { prepareRerun, type RunStart } from "./rerun.ts";
import { openRolloutTarget } from "./rollout-target.ts";
import { heldoutEvaluator, openGuards, type RunContext, referenceOf, saveWeights } from "./run-context.ts";
import { rolloutShares } from "./run-guards.ts";
import { ensureModelDir, sftExamples, taskName, trainingPrompts } from "./run-setup.ts";
import { type GrpoRecord, type GrpoTrainingOptions, trainGrpo } from "./trainer.ts";

/** What a caller (the CLI, the demo) sees of a run as it goes. */
export interface RunHooks {
  log?: (message: string) => void;
  warn?: (message: string) => void;
  onStage?: (stage: "sft" | "grpo" | "eval", total: number, done: number) => void;
  onSftStep?: (r: SftRecord) => void;
  onGrpoStep?: (r: GrpoRecord) => void;
  onEval?: (step: number, result: Accuracy) => void;
  /** A guard tripped (src/track/guards.ts); without this hook its message goes to `warn`. */
  onGuard?: (alert: GuardAlert) => void;
  /** Where the run starts: new, resumed (from which step, with which allowed changes) or already finished. */
  onStart?: (start: RunStart) => void;
  /** Returning true stops the run after the current step, with a checkpoint (Ctrl-C). */
  stop?: () => boolean;
}

/** How a run may differ from the one already in its folder. */
export interface RunOptions {
  /** Fields allowed to differ from the run's config (rerun.ts RESUMABLE_FIELDS), e.g. "grpo.steps". */
  allowChange?: readonly string[];
  /** What the run store records the run as (default "train"; the demo is "demo"). */
  kind?: "train" | "demo";
}

/**
 * Runs (or resumes) `recipe`; returns the summary also written to summary.json (a finished
 * run's summary as it was).
 */
export async function runRecipe(
  recipe: Recipe,
  hooks: RunHooks = {},
  options: RunOptions = {},
): Promise<RunSummary> {
  const started = performance.now();
  checkDtype(recipe.model);
  await checkRecipePaths(recipe);
  const folder = RunFolder.of(recipe.runsDir, recipe.name);
  const start = await prepareRerun(recipe, folder, options.allowChange);
  hooks.onStart?.(start);
  if (start.kind === "finished") return start.summary;
  await folder.create();
  for (const path of await folder.removeTemporaries()) hooks.log?.(`removed ${path} (left by a killed run)`);
  // config.yaml is the recipe the run started with; changes on resume go to history.jsonl.
  if (start.kind === "new") await folder.writeConfig(toYaml(recipe));
  let stopped = false;
  const store = RunStore.open(folder.storePath, {
    kind: options.kind ?? "train",
    name: recipe.name,
    config: (await folder.readConfig()) ?? undefined,
    model: recipe.model.path,
  });
  const models = await openModels(recipe, folder, hooks, () => (stopped ||= hooks.stop?.() ?? false)).catch(
    (err) => {
      store.close();
      throw err;
    },
  );
  const ctx: RunContext = { ...models, store };

  let sftSteps = 0;
  let grpo: GrpoOutcome | null = null;
  try {
    sftSteps = recipe.sft ? await sftStage(ctx, recipe.sft) : 0;
    grpo = recipe.grpo && !stopped ? await grpoStage(ctx, recipe.grpo) : null;
    if (grpo?.stoppedBy) stopped = true;
    if (!stopped) await saveWeights(ctx, folder.finalDir, null);
  } finally {
    // The generator's KV cache, then the engine with every tensor of the run (weights, adapters,
    // reference, optimizer state), also when a stage threw.
    await ctx.rollout.close();
    await ctx.models.generator.dispose();
    await ctx.models.engine[Symbol.asyncDispose]();
    store.close();
  }
  const [before, after] = [grpo?.before ?? null, grpo?.after ?? null];
  const summary: RunSummary = {
    name: recipe.name,
    model: recipe.model.path,
    task: taskName(recipe),
    heldout: grpo?.heldout ?? null,
    before,
    after,
    gain_points: before && after ? 100 * (after.accuracy - before.accuracy) : null,
    significant: before && after ? after.ci95[0] > before.ci95[1] : null,
    best: grpo?.best ?? null,
    sft_steps: sftSteps,
    grpo_steps: grpo?.steps ?? 0,
    stopped,
    chart: null,
    wall_s: (performance.now() - started) / 1000,
  };
  await folder.writeSummary(summary);
  return summary;
}

/** Refuses a model.dtype the run cannot use, before anything is written. */
function checkDtype(model: Recipe["model"]): void {
  if (!model.lora && model.dtype !== "f32" && model.dtype !== "bf16")
    throw new Error(
      `model.dtype ${model.dtype}: a full fine-tune stores its frozen reference as f32 or bf16`,
    );
}

/** The model folder (made if the recipe says how), the engine, the policy and its generator. */
async function openModels(
  recipe: Recipe,
  folder: RunFolder,
  hooks: RunHooks,
  stop: () => boolean,
): Promise<Omit<RunContext, "store">> {
  const { model } = recipe;
  const log = hooks.log ?? (() => {});
  if (await ensureModelDir(model)) log(`made a model from scratch in ${model.path}`);
  if (recipe.grpo) await assertRecipeFits(recipe);
  const tok = Tokenizer.fromDir(model.path);
  // The engine checks the device (a build without GPU backends knows only "cpu").
  const engine = new Engine({ threads: model.threads, device: model.device });
  try {
    // Under LoRA the base is frozen, its matrices stored as model.dtype; a full fine-tune trains f32.
    const base = await loadModel(engine, model.path, {
      trainable: !model.lora,
      dtype: model.lora ? model.dtype : undefined,
    });
    const policy = model.lora ? addLora(engine, base.weights, model.lora, recipe.seed) : base.weights;
    const params = trainableParameters(policy);
    log(
      `model ${model.path}: ${params.reduce((n, p) => n + p.size, 0).toLocaleString()} trainable parameters`,
    );
    const eosIds = tok.eosIds.length ? [...tok.eosIds] : base.hf.eosTokenIds;
    const generator = new LocalGenerator(engine, base.config, policy, { eosIds }, tok);
    const models = { engine, config: base.config, policy, generator };
    const rollout = await openRolloutTarget(recipe.grpo ? recipe.rollout : undefined, {
      local: generator,
      policy: { weights: policy, lora: model.lora ?? null, modelPath: model.path, hf: base.hf },
      folder,
      tokenizer: tok,
      log,
    });
    if (rollout.remote) log(`rollouts on ${rollout.description}`);
    return {
      recipe,
      folder,
      tok,
      base,
      models,
      params,
      hooks,
      warn: hooks.warn ?? console.warn,
      stop,
      rollout,
    };
  } catch (err) {
    await engine[Symbol.asyncDispose]();
    throw err;
  }
}

/**
 * Refuses, before any weight is loaded, a GRPO run whose planned peak memory (src/rl/plan.ts,
 * without the timing probe) exceeds the memory of its device: the error gives the numbers and
 * the settings to change, instead of the run being killed mid-step.
 */
async function assertRecipeFits(recipe: Recipe): Promise<void> {
  const plan = await planRun(recipe, { probe: false });
  assertRunFits(plan, resolveDevice(recipe.model.device).memoryTotal);
}

/** The SFT stage; returns the steps done. */
async function sftStage(ctx: RunContext, s: NonNullable<Recipe["sft"]>): Promise<number> {
  const { recipe, hooks } = ctx;
  const examples = await sftExamples(s.data, ctx.tok, recipe.prompt);
  hooks.log?.(`sft: ${examples.length} examples, ${s.steps} steps of ${s.batchSize}`);
  hooks.onStage?.("sft", s.steps, 0);
  const optimizer = new AdamW(ctx.models.engine, ctx.params, s.optimizer);
  // The store drops what a resumed stage writes again (as metrics.jsonl does).
  ctx.store.truncateAfter("sft", await ctx.folder.latestStep("sft"));
  // The recipe was parsed (and defaulted) where it was read: its values are used as they are.
  const options: SftTrainingOptions = {
    steps: s.steps,
    batchSize: s.batchSize,
    microBatch: s.microBatch,
    schedule: { ...s.schedule, lr: s.optimizer.lr },
    checkpointEvery: recipe.checkpoint.every,
    keepLast: recipe.checkpoint.keepLast,
    seed: recipe.seed,
    chunkRows: s.chunkRows,
  };
  try {
    const records = await trainSft(
      { models: { ...ctx.models, optimizer }, examples, folder: ctx.folder },
      options,
      {
        onStep: (r) => {
          ctx.store.writeStep({ stage: "sft", step: r.step, metrics: r });
          hooks.onSftStep?.(r);
        },
        stop: ctx.stop,
        warn: ctx.warn,
      },
    );
    return records.at(-1)?.step ?? s.steps;
  } finally {
    optimizer.free(); // GRPO makes its own: SFT's moments need not stay
  }
}

/** What the GRPO stage reports for the summary. */
interface GrpoOutcome {
  steps: number;
  heldout: number | null;
  before: Accuracy | null;
  after: Accuracy | null;
  best: BestStep | null;
  /** The guard alert (action: stop) that ended the stage before its last step. */
  stoppedBy?: GuardAlert;
}

/**
 * The GRPO stage: held-out accuracy before it (kept in metrics.jsonl, so a resumed run does not
 * measure it again), the steps with evaluation every N and the best model kept, after it.
 */
async function grpoStage(ctx: RunContext, g: NonNullable<Recipe["grpo"]>): Promise<GrpoOutcome> {
  const { recipe, folder, warn } = ctx;
  const verifier = new VerifierPool();
  try {
    // The store drops what a resumed stage writes again (as metrics.jsonl does).
    ctx.store.truncateAfter("grpo", await folder.latestStep("grpo"));
    const evaluate = recipe.eval ? await heldoutEvaluator(ctx, recipe.eval, verifier) : null;
    const out: GrpoOutcome = {
      steps: 0,
      heldout: evaluate?.size ?? null,
      before: null,
      after: null,
      best: null,
    };
    if (evaluate) {
      out.before = await folder.evaluation(0);
      if (!out.before) {
        out.before = await evaluate.run(0);
        await folder.appendEvaluation(0, out.before);
      }
      out.best = await folder.readBest();
      if (!out.best) {
        out.best = { step: 0, accuracy: out.before.accuracy };
        await saveWeights(ctx, folder.bestDir, out.best);
      }
    }
    const problems = await loadProblems(recipe.data.train, "train", warn);
    const prompts = trainingPrompts(ctx.tok, recipe.prompt, problems, g.maxPromptTokens, warn);
    const reward = await rewardFunction(g.rewards, { verifier, warn });
    const guards = await openGuards(ctx, g);
    const { steps, promptsPerStep, maxPromptTokens: _, rewards: __, optimizer, schedule, ...grpo } = g;
    const options: GrpoTrainingOptions = {
      steps,
      promptsPerStep,
      grpo,
      schedule: { ...schedule, lr: optimizer.lr },
      checkpointEvery: recipe.checkpoint.every,
      keepLast: recipe.checkpoint.keepLast,
      evalEvery: recipe.eval?.every ?? 0,
      seed: recipe.seed,
      offPolicy: recipe.rollout?.offPolicy,
    };
    const models: TrainModels = {
      ...ctx.models,
      generator: ctx.rollout.generator,
      reference: g.loss.beta > 0 ? referenceOf(ctx) : undefined,
      optimizer: new AdamW(ctx.models.engine, ctx.params, optimizer),
    };
    ctx.hooks.onStage?.("grpo", steps, 0);
    let samples: Array<RolloutRow & { flags: RolloutFlags }> = [];
    const run = { models, prompts, reward, folder, remoteGenerator: ctx.rollout.remote };
    const records = await trainGrpo(run, options, {
      ...ctx.rollout.hooks, // the policy pushed to the fleet before the first step and after each update
      // Each completion's filter columns once: the step's shares (guards, curves) and the store's rows.
      onSamples: async (_, s) => {
        samples = s.map((sample) => ({ ...sample, flags: rolloutFlags(sample) }));
        return rolloutShares(samples);
      },
      // The step's metrics and rollouts in one transaction, before its checkpoint is saved.
      onStep: (r) => {
        ctx.store.writeStep({ stage: "grpo", step: r.step, metrics: r, rollouts: samples });
        samples = [];
        ctx.hooks.onGrpoStep?.(r);
        guards.afterStep(r);
      },
      stop: () => ctx.stop() || guards.stopping,
      warn,
      evaluate: evaluate
        ? async (step) => {
            const acc = await evaluate.run(step);
            await folder.appendEvaluation(step, acc);
            guards.afterEvaluation(step, acc);
            if (!out.best || acc.accuracy > out.best.accuracy) {
              out.best = { step, accuracy: acc.accuracy };
              await saveWeights(ctx, folder.bestDir, out.best);
            }
            return { heldout_accuracy: acc.accuracy };
          }
        : undefined,
    });
    await guards.flush();
    out.stoppedBy = guards.stopAlert ?? undefined;
    out.steps = records.at(-1)?.step ?? steps;
    if (evaluate) out.after = await folder.lastEvaluation();
    return out;
  } finally {
    await verifier.close();
  }
}
