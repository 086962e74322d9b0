/**
 * Runs a recipe end to end in `<runsDir>/<name>/`:
 *
 *   config.yaml     the recipe as run (after --set overrides)
 *   metrics.jsonl   one line per step (stage "sft" or "grpo") and per evaluation (stage "eval")
 *   checkpoints/    sft/ and grpo/ (resume), best/ (the best held-out accuracy, a model folder)
 *   final/          the trained model (a model folder, or LoRA adapters)
 *   summary.json    held-out accuracy before and after GRPO, best step, steps, wall time
 *
 * SFT (optional) runs first, then GRPO against a frozen copy of the model as it
 * was when GRPO started. Running the same recipe again resumes where the run
 * stopped; a finished run is not redone.
 */
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { stringify as toYaml } from "yaml";
import { loadProblems } from "../data/problems.ts";
import { AdamW, Engine, type Tensor } from "../engine/index.ts";
import { type Accuracy, heldoutAccuracy } from "../eval/accuracy.ts";
import { LocalGenerator } from "../generate/local.ts";
import { frozenCopy, type LlamaWeights, trainableParameters } from "../model/llama.ts";
import { type LoadedModel, loadModel, saveModel } from "../model/load.ts";
import { addLora, saveLora } from "../model/lora.ts";
import { writeFileAtomic } from "../model/safetensors-write.ts";
import { Tokenizer } from "../model/tokenizer.ts";
import { REWARD_RECIPES } from "../rewards/recipes.ts";
import { type SftRecord, trainSft } from "../sft/trainer.ts";
import { appendMetrics, readMetrics } from "../train/metrics-log.ts";
import { VerifierPool } from "../verify/pool.ts";
import type { Recipe } from "./recipe.ts";
import { composedRewardFn, composeWithAccuracy } from "./rewards.ts";
import { ensureModelDir, renderPrompts, sftExamples } from "./run-setup.ts";
import { type StepRecord, trainGrpo } from "./trainer.ts";

/** What a caller (the CLI, the demo) sees of a run as it goes. */
export interface RunHooks {
  log?: (message: string) => void;
  warn?: (message: string) => void;
  onStage?: (stage: "sft" | "grpo" | "eval", total: number, done: number) => void;
  onSftStep?: (r: SftRecord) => void;
  onGrpoStep?: (r: StepRecord) => void;
  onEval?: (step: number, result: Accuracy) => void;
  /** Returning true stops the run after the current step, with a checkpoint (Ctrl-C). */
  stop?: () => boolean;
}

export interface RunSummary {
  name: string;
  model: string;
  heldout: number | null;
  before: Accuracy | null;
  after: Accuracy | null;
  best: { step: number; accuracy: number } | null;
  sft_steps: number;
  grpo_steps: number;
  stopped: boolean;
  wall_s: number;
}

/** What the stages of a run share: the recipe, the model being trained, where things go. */
interface RunContext {
  recipe: Recipe;
  runDir: string;
  metricsPath: string;
  engine: Engine;
  tok: Tokenizer;
  base: LoadedModel;
  /** The weights being trained: the base's, or the base under LoRA adapters. */
  policy: LlamaWeights;
  params: Tensor[];
  generator: LocalGenerator;
  hooks: RunHooks;
  warn: (message: string) => void;
  /** True once the caller asked to stop (checked after each step). */
  stop: () => boolean;
}

/** Runs (or resumes) `recipe`; returns the summary also written to summary.json. */
export async function runRecipe(recipe: Recipe, hooks: RunHooks = {}): Promise<RunSummary> {
  const started = performance.now();
  const log = hooks.log ?? (() => {});
  const runDir = join(recipe.runsDir, recipe.name);
  await mkdir(runDir, { recursive: true });
  await writeFileAtomic(join(runDir, "config.yaml"), toYaml(recipe));

  if (await ensureModelDir(recipe.model)) log(`made a model from scratch in ${recipe.model.path}`);
  const tok = Tokenizer.fromDir(recipe.model.path);
  const engine = new Engine({ threads: recipe.model.threads });
  const base = await loadModel(engine, recipe.model.path, { trainable: !recipe.model.lora });
  const policy = recipe.model.lora
    ? addLora(engine, base.weights, recipe.model.lora, recipe.seed)
    : base.weights;
  const params = trainableParameters(policy);
  log(
    `model ${recipe.model.path}: ${params.reduce((n, p) => n + p.size, 0).toLocaleString()} trainable parameters`,
  );
  const eosIds = tok.eosIds.length ? [...tok.eosIds] : base.hf.eosTokenIds;
  let stopped = false;
  const ctx: RunContext = {
    recipe,
    runDir,
    metricsPath: join(runDir, "metrics.jsonl"),
    engine,
    tok,
    base,
    policy,
    params,
    generator: new LocalGenerator(engine, base.config, policy, { eosIds }, tok),
    hooks,
    warn: hooks.warn ?? console.warn,
    stop: () => (stopped ||= hooks.stop?.() ?? false),
  };

  const sftSteps = recipe.sft ? await sftStage(ctx, recipe.sft) : 0;
  const grpo = recipe.grpo && !stopped ? await grpoStage(ctx, recipe.grpo) : null;
  if (!stopped) await saveWeights(join(runDir, "final"), ctx, null);
  const summary: RunSummary = {
    name: recipe.name,
    model: recipe.model.path,
    heldout: grpo?.heldout ?? null,
    before: grpo?.before ?? null,
    after: grpo?.after ?? null,
    best: grpo?.best ?? null,
    sft_steps: sftSteps,
    grpo_steps: grpo?.steps ?? 0,
    stopped,
    wall_s: (performance.now() - started) / 1000,
  };
  await writeFileAtomic(join(runDir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

/** The SFT stage; returns the steps done. */
async function sftStage(ctx: RunContext, s: NonNullable<Recipe["sft"]>): Promise<number> {
  const { recipe, engine, policy, params, hooks } = ctx;
  const examples = await sftExamples(s.data, ctx.tok, recipe.prompt);
  hooks.log?.(`sft: ${examples.length} examples, ${s.steps} steps of ${s.batchSize}`);
  hooks.onStage?.("sft", s.steps, 0);
  const records = await trainSft(
    { engine, config: ctx.base.config, weights: policy, optimizer: new AdamW(engine, params, s.optimizer) },
    examples,
    {
      runDir: ctx.runDir,
      steps: s.steps,
      batchSize: s.batchSize,
      microBatch: s.microBatch,
      schedule: { ...s.schedule, lr: s.optimizer.lr },
      checkpointEvery: recipe.checkpoint.every,
      keepLast: recipe.checkpoint.keepLast,
      seed: recipe.seed,
    },
    { onStep: hooks.onSftStep, stop: ctx.stop, warn: ctx.warn },
  );
  return records.at(-1)?.step ?? s.steps;
}

/** What the GRPO stage reports for the summary. */
interface GrpoOutcome {
  steps: number;
  heldout: number | null;
  before: Accuracy | null;
  after: Accuracy | null;
  best: RunSummary["best"];
}

/**
 * The GRPO stage: held-out accuracy before it (kept in metrics.jsonl, so a resumed run does not
 * measure it again), the steps with evaluation every N and the best model kept, after it.
 */
async function grpoStage(ctx: RunContext, g: NonNullable<Recipe["grpo"]>): Promise<GrpoOutcome> {
  const { recipe, runDir, metricsPath, tok, warn } = ctx;
  const verifier = new VerifierPool();
  try {
    const evaluate = recipe.eval ? await heldoutEvaluator(ctx, recipe.eval, verifier) : null;
    const out: GrpoOutcome = {
      steps: 0,
      heldout: evaluate?.size ?? null,
      before: null,
      after: null,
      best: null,
    };
    if (evaluate) {
      const saved = (await readMetrics(metricsPath)).find((r) => r.stage === "eval" && r.step === 0);
      out.before = (saved?.result as Accuracy | undefined) ?? null;
      if (!out.before) {
        out.before = await evaluate.run(0);
        await appendMetrics(metricsPath, { stage: "eval", step: 0, result: out.before });
      }
      out.best = await readBest(runDir);
      if (!out.best) {
        out.best = { step: 0, accuracy: out.before.accuracy };
        await saveWeights(join(runDir, "checkpoints", "best"), ctx, out.best);
      }
    }

    const train = await loadProblems(recipe.data.train, "train", warn);
    const rewards = await composeWithAccuracy(
      typeof g.rewards === "string" ? REWARD_RECIPES[g.rewards] : g.rewards,
    );
    const rendered = renderPrompts(tok, recipe.prompt, train);
    const rows = rendered.map((r, i) => ({ text: r.text, row: train[i].row }));
    const reward = composedRewardFn(rewards, rows, { verifier, warn });
    const { steps, promptsPerStep, maxPromptTokens, rewards: _r, optimizer, schedule, ...stepOptions } = g;
    const prompts = cutPrompts(
      rendered.map((r) => r.ids),
      maxPromptTokens,
      warn,
    );
    ctx.hooks.onStage?.("grpo", steps, 0);
    const records = await trainGrpo(
      {
        engine: ctx.engine,
        config: ctx.base.config,
        policy: ctx.policy,
        reference: g.loss.beta > 0 ? referenceOf(ctx) : undefined,
        generator: ctx.generator,
        optimizer: new AdamW(ctx.engine, ctx.params, optimizer),
      },
      prompts,
      reward,
      {
        runDir,
        steps,
        promptsPerStep,
        grpo: stepOptions,
        schedule: { ...schedule, lr: optimizer.lr },
        checkpointEvery: recipe.checkpoint.every,
        keepLast: recipe.checkpoint.keepLast,
        evalEvery: recipe.eval?.every ?? 0,
        seed: recipe.seed,
      },
      {
        onStep: ctx.hooks.onGrpoStep,
        stop: ctx.stop,
        warn,
        evaluate: evaluate
          ? async (step) => {
              const acc = await evaluate.run(step);
              await appendMetrics(metricsPath, { stage: "eval", step, result: acc });
              if (!out.best || acc.accuracy > out.best.accuracy) {
                out.best = { step, accuracy: acc.accuracy };
                await saveWeights(join(runDir, "checkpoints", "best"), ctx, out.best);
              }
              return { heldout_accuracy: acc.accuracy };
            }
          : undefined,
      },
    );
    out.steps = records.at(-1)?.step ?? steps;
    if (evaluate) out.after = await lastEval(metricsPath);
    return out;
  } finally {
    await verifier.close();
  }
}

/** Held-out accuracy of the policy on the recipe's eval problems. */
async function heldoutEvaluator(ctx: RunContext, ev: NonNullable<Recipe["eval"]>, verifier: VerifierPool) {
  const heldout = await loadProblems(ev.data, "heldout", ctx.warn);
  const prompts = renderPrompts(ctx.tok, ctx.recipe.prompt, heldout).map((r) => r.ids);
  const golds = heldout.map((p) => p.answer);
  return {
    size: heldout.length,
    run: async (step: number): Promise<Accuracy> => {
      ctx.hooks.onStage?.("eval", heldout.length, 0);
      const { completions: _, ...accuracy } = await heldoutAccuracy(
        ctx.generator,
        prompts,
        golds,
        (g, p) => verifier.verify(g, p),
        { temperature: ev.temperature, topP: ev.topP, maxTokens: ev.maxTokens, seed: ev.seed },
      );
      ctx.hooks.onEval?.(step, accuracy);
      return accuracy;
    },
  };
}

/** Prompts longer than `max` tokens keep their end (TRL's max_prompt_length); the count is reported. */
function cutPrompts(prompts: Int32Array[], max: number | undefined, warn: (m: string) => void): Int32Array[] {
  if (!max) return prompts;
  const cut = prompts.filter((p) => p.length > max).length;
  if (cut) warn(`${cut} of ${prompts.length} prompts are longer than ${max} tokens: their start is cut`);
  return prompts.map((p) => p.subarray(Math.max(0, p.length - max)));
}

/** The frozen reference: the base weights under LoRA adapters, else a copy of the policy as GRPO starts. */
function referenceOf(ctx: RunContext): LlamaWeights {
  if (ctx.recipe.model.lora) return ctx.base.weights;
  return frozenCopy(ctx.engine, ctx.policy, ctx.recipe.model.referenceDtype);
}

/** Saves the policy as a model folder (or LoRA adapters) into `dir`, replacing what was there. */
async function saveWeights(dir: string, ctx: RunContext, best: RunSummary["best"]): Promise<void> {
  const { recipe } = ctx;
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  if (recipe.model.lora) await saveLora(tmp, ctx.policy, recipe.model.lora, recipe.model.path);
  else await saveModel(tmp, ctx.base.hf, ctx.policy, { tokenizerDir: recipe.model.path });
  if (best) await writeFileAtomic(join(tmp, "best.json"), `${JSON.stringify(best)}\n`);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

async function readBest(runDir: string): Promise<RunSummary["best"]> {
  try {
    return JSON.parse(await readFile(join(runDir, "checkpoints", "best", "best.json"), "utf8"));
  } catch {
    return null;
  }
}

/** The last held-out result logged in metrics.jsonl (a resumed run that had nothing left to do). */
async function lastEval(metricsPath: string): Promise<Accuracy | null> {
  const evals = (await readMetrics(metricsPath)).filter((r) => r.stage === "eval");
  return (evals.at(-1)?.result as Accuracy | undefined) ?? null;
}
