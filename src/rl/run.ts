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
import { loadProblems, type Problem } from "../data/problems.ts";
import { AdamW, Engine } from "../engine/index.ts";
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
import { ensureModelDir, promptIds, sftExamples } from "./run-setup.ts";
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

/** Runs (or resumes) `recipe`; returns the summary also written to summary.json. */
export async function runRecipe(recipe: Recipe, hooks: RunHooks = {}): Promise<RunSummary> {
  const started = performance.now();
  const log = hooks.log ?? (() => {});
  const warn = hooks.warn ?? console.warn;
  const runDir = join(recipe.runsDir, recipe.name);
  await mkdir(runDir, { recursive: true });
  await writeFileAtomic(join(runDir, "config.yaml"), toYaml(recipe));
  const metricsPath = join(runDir, "metrics.jsonl");

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
  const generator = new LocalGenerator(engine, base.config, policy, { eosIds }, tok);
  let stopped = false;
  const stop = () => (stopped ||= hooks.stop?.() ?? false);

  // Stage 1: SFT.
  let sftSteps = 0;
  if (recipe.sft) {
    const s = recipe.sft;
    const examples = await sftExamples(s.data, tok, recipe.prompt);
    log(`sft: ${examples.length} examples, ${s.steps} steps of ${s.batchSize}`);
    hooks.onStage?.("sft", s.steps, 0);
    const records = await trainSft(
      { engine, config: base.config, weights: policy, optimizer: new AdamW(engine, params, s.optimizer) },
      examples,
      {
        runDir,
        steps: s.steps,
        batchSize: s.batchSize,
        microBatch: s.microBatch,
        schedule: { ...s.schedule, lr: s.optimizer.lr },
        checkpointEvery: recipe.checkpoint.every,
        keepLast: recipe.checkpoint.keepLast,
        seed: recipe.seed,
      },
      { onStep: hooks.onSftStep, stop, warn },
    );
    sftSteps = records.at(-1)?.step ?? s.steps;
  }

  // Held-out evaluation: before GRPO, every N steps, after.
  const ev = recipe.eval;
  const heldout = ev ? await loadProblems(ev.data, "heldout", warn) : [];
  const heldoutPrompts = promptIds(tok, recipe.prompt, heldout);
  const verifier = new VerifierPool();
  const evaluate = async (step: number): Promise<Accuracy> => {
    if (!ev) throw new Error("no eval section");
    hooks.onStage?.("eval", heldout.length, 0);
    const result = await heldoutAccuracy(
      generator,
      heldoutPrompts,
      heldout.map((p) => p.answer),
      (g, p) => verifier.verify(g, p),
      { temperature: ev.temperature, topP: ev.topP, maxTokens: ev.maxTokens, seed: ev.seed },
    );
    const { completions: _, ...accuracy } = result;
    hooks.onEval?.(step, accuracy);
    return accuracy;
  };

  let before: Accuracy | null = null;
  let after: Accuracy | null = null;
  let best: RunSummary["best"] = null;
  let grpoSteps = 0;
  try {
    if (recipe.grpo && !stopped) {
      const g = recipe.grpo;
      const saved = (await readMetrics(metricsPath)).find((r) => r.stage === "eval" && r.step === 0);
      before = (saved?.result as Accuracy | undefined) ?? null;
      if (ev && !before) {
        before = await evaluate(0);
        await appendMetrics(metricsPath, { stage: "eval", step: 0, result: before });
      }
      best = await readBest(runDir);
      if (before && !best) {
        best = { step: 0, accuracy: before.accuracy };
        await saveWeights(join(runDir, "checkpoints", "best"), base, policy, recipe, best);
      }

      const train = await loadProblems(recipe.data.train, "train", warn);
      const rewards = await composeWithAccuracy(
        typeof g.rewards === "string" ? REWARD_RECIPES[g.rewards] : g.rewards,
      );
      const reward = composedRewardFn(rewards, rowsOf(tok, recipe, train), { verifier, warn });
      const reference = g.loss.beta > 0 ? referenceOf(engine, base, policy, recipe) : undefined;
      hooks.onStage?.("grpo", g.steps, 0);
      const { steps, promptsPerStep, maxPromptTokens, rewards: _r, optimizer, schedule, ...stepOptions } = g;
      const prompts = promptIds(tok, recipe.prompt, train);
      if (maxPromptTokens) {
        const cut = prompts.filter((p) => p.length > maxPromptTokens).length;
        if (cut)
          warn(
            `${cut} of ${prompts.length} prompts are longer than ${maxPromptTokens} tokens: their start is cut`,
          );
        for (const [i, p] of prompts.entries())
          prompts[i] = p.subarray(Math.max(0, p.length - maxPromptTokens));
      }
      const records = await trainGrpo(
        {
          engine,
          config: base.config,
          policy,
          reference,
          generator,
          optimizer: new AdamW(engine, params, optimizer),
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
          evalEvery: ev?.every ?? 0,
          seed: recipe.seed,
        },
        {
          onStep: hooks.onGrpoStep,
          stop,
          warn,
          evaluate: !ev
            ? undefined
            : async (step) => {
                const acc = await evaluate(step);
                if (!best || acc.accuracy > best.accuracy) {
                  best = { step, accuracy: acc.accuracy };
                  await saveWeights(join(runDir, "checkpoints", "best"), base, policy, recipe, best);
                }
                after = acc;
                await appendMetrics(metricsPath, { stage: "eval", step, result: acc });
                return { heldout_accuracy: acc.accuracy };
              },
        },
      );
      grpoSteps = records.at(-1)?.step ?? g.steps;
      if (!after && ev && !stopped) after = await lastEval(metricsPath);
    }
    if (!stopped) await saveWeights(join(runDir, "final"), base, policy, recipe, null);
  } finally {
    await verifier.close();
  }
  const summary: RunSummary = {
    name: recipe.name,
    model: recipe.model.path,
    heldout: ev ? heldout.length : null,
    before,
    after,
    best,
    sft_steps: sftSteps,
    grpo_steps: grpoSteps,
    stopped,
    wall_s: (performance.now() - started) / 1000,
  };
  await writeFileAtomic(join(runDir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

/** The dataset rows the rewards see, with each prompt's text. */
function rowsOf(tok: Tokenizer, recipe: Recipe, problems: readonly Problem[]) {
  return promptIds(tok, recipe.prompt, problems).map((ids, i) => ({
    text: tok.decode(ids),
    row: problems[i].row,
  }));
}

/** The frozen reference: the base weights under LoRA adapters, else a copy of the policy as GRPO starts. */
function referenceOf(engine: Engine, base: LoadedModel, policy: LlamaWeights, recipe: Recipe): LlamaWeights {
  if (recipe.model.lora) return base.weights;
  return frozenCopy(engine, policy, recipe.model.referenceDtype);
}

/** Saves the policy as a model folder (or LoRA adapters) into `dir`, replacing what was there. */
async function saveWeights(
  dir: string,
  base: LoadedModel,
  policy: LlamaWeights,
  recipe: Recipe,
  meta: { step: number; accuracy: number } | null,
): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  if (recipe.model.lora) await saveLora(tmp, policy, recipe.model.lora, recipe.model.path);
  else await saveModel(tmp, base.hf, policy, { tokenizerDir: recipe.model.path });
  if (meta) await writeFileAtomic(join(tmp, "best.json"), `${JSON.stringify(meta)}\n`);
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
