/**
 * What the stages of a run (run.ts) share, and the helpers that work on it:
 * the guards of the GRPO stage, the held-out evaluator, the frozen reference,
 * and saving the policy into the run folder.
 */
import { loadProblems } from "../data/problems.ts";
import type { Tensor } from "../engine/index.ts";
import { type Accuracy, heldoutAccuracy } from "../eval/accuracy.ts";
import type { LocalGenerator } from "../generate/local.ts";
import { frozenCopy, type LlamaWeights } from "../model/llama.ts";
import { type LoadedModel, saveModel } from "../model/load.ts";
import { saveLora } from "../model/lora.ts";
import { writeFileAtomic } from "../model/safetensors-write.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import type { GuardAlert } from "../track/guards.ts";
import type { RunStore } from "../track/store.ts";
import type { TrainModels } from "../train/models.ts";
import { type BestStep, RunFolder } from "../train/run-folder.ts";
import type { VerifierPool } from "../verify/pool.ts";
import type { Recipe } from "./recipe.ts";
import type { RolloutTarget } from "./rollout-target.ts";
import type { RunHooks } from "./run.ts";
import { RunGuards } from "./run-guards.ts";
import { renderPrompts } from "./run-setup.ts";

/** What the stages of a run share: the recipe, the model being trained, where things go. */
export interface RunContext {
  recipe: Recipe;
  folder: RunFolder;
  tok: Tokenizer;
  base: LoadedModel;
  /** The policy and its generator (no optimizer yet: each stage makes its own). */
  models: Omit<TrainModels, "optimizer"> & { generator: LocalGenerator };
  params: Tensor[];
  hooks: RunHooks;
  warn: (message: string) => void;
  /** True once the caller asked to stop (checked after each step). */
  stop: () => boolean;
  /** Where GRPO's rollouts are generated: the local generator, or a fleet the policy is pushed to after each step. */
  rollout: RolloutTarget;
  /** The run store (run.sqlite): each step's metrics and rollouts, each evaluation and its samples. */
  store: RunStore;
}

/** The guards of the GRPO stage, each alert shown (onGuard, else warn) and kept in the run store's events. */
export function openGuards(ctx: RunContext, g: NonNullable<Recipe["grpo"]>): Promise<RunGuards> {
  const show = ctx.hooks.onGuard ?? ((a: GuardAlert) => ctx.warn(a.message));
  return RunGuards.open(ctx.folder, {
    config: ctx.recipe.guards,
    steps: g.steps,
    maxTokens: g.maxTokens,
    report: (a) => {
      show(a);
      ctx.store.addEvent({
        step: a.step,
        kind: "guard",
        name: a.guard,
        level: a.action,
        message: a.message,
        value: a.value,
      });
    },
  });
}

/** Held-out accuracy of the policy on the recipe's eval problems. */
export async function heldoutEvaluator(
  ctx: RunContext,
  ev: NonNullable<Recipe["eval"]>,
  verifier: VerifierPool,
) {
  const heldout = await loadProblems(ev.data, "heldout", ctx.warn);
  const rendered = renderPrompts(ctx.tok, ctx.recipe.prompt, heldout);
  const prompts = rendered.map((r) => r.ids);
  const golds = heldout.map((p) => p.answer);
  const generator = ctx.models.generator;
  return {
    size: heldout.length,
    run: async (step: number): Promise<Accuracy> => {
      ctx.hooks.onStage?.("eval", heldout.length, 0);
      const { completions, ...accuracy } = await heldoutAccuracy(
        generator,
        prompts,
        golds,
        (g, p) => verifier.verify(g, p),
        { temperature: ev.temperature, topP: ev.topP, maxTokens: ev.maxTokens, seed: ev.seed },
      );
      // Into the store before metrics.jsonl: a resumed run that finds it logged finds its samples too.
      const samples = completions.map((c, i) => ({
        benchmark: "heldout",
        problem: i,
        sample: 0,
        prompt: rendered[i].text,
        completion: c.text,
        answer: null,
        gold: golds[i],
        correct: c.correct,
        tokens: c.tokens,
        finishReason: c.finishReason,
      }));
      ctx.store.writeEval(step, accuracy, samples);
      ctx.hooks.onEval?.(step, accuracy);
      return accuracy;
    },
  };
}

/**
 * The frozen reference: the base weights under LoRA adapters, else a copy of the policy as GRPO
 * starts, its matrices stored as model.dtype.
 */
export function referenceOf(ctx: RunContext): LlamaWeights {
  if (ctx.recipe.model.lora) return ctx.base.weights;
  // checkDtype allowed only f32 and bf16 for a full fine-tune.
  return frozenCopy(ctx.models.engine, ctx.models.policy, ctx.recipe.model.dtype === "bf16" ? "bf16" : "f32");
}

/** Saves the policy as a model folder (or LoRA adapters) into `dir`, replacing what was there. */
export async function saveWeights(ctx: RunContext, dir: string, best: BestStep | null): Promise<void> {
  const { model } = ctx.recipe;
  await ctx.folder.replaceFolder(dir, async (tmp) => {
    if (model.lora) await saveLora(tmp, ctx.models.policy, model.lora, model.path);
    else await saveModel(tmp, ctx.base.hf, ctx.models.policy, { tokenizerDir: model.path });
    if (best) await writeFileAtomic(RunFolder.bestFile(tmp), `${JSON.stringify(best)}\n`);
  });
}
