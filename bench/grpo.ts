/**
 * `reasonrl bench grpo`: GRPO steps of the demo's configuration (recipes/demo.yaml:
 * its model shape, prompts per step, group size, max tokens, temperature, beta,
 * rewards), timed and split into generation / rewards / training.
 *
 * The model is made from scratch (random weights), so every completion runs to
 * maxTokens: the slowest case of the demo's steps. Comparison point, measured
 * in the same run on the same batch: one plain SFT step (forward + backward +
 * AdamW, no rollouts, no reference pass), i.e. what the training part of
 * a GRPO step would cost if it were only next-token training.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadProblems } from "../src/data/problems.ts";
import { DEMO_RECIPE } from "../src/demo/grpo-demo.ts";
import { AdamW, Engine } from "../src/engine/index.ts";
import { LocalGenerator } from "../src/generate/local.ts";
import { frozenCopy, trainableParameters } from "../src/model/llama.ts";
import { loadModel } from "../src/model/load.ts";
import { Tokenizer } from "../src/model/tokenizer.ts";
import { rewardFunction } from "../src/rewards/reward-function.ts";
import { GrpoOptions, grpoStep } from "../src/rl/grpo-step.ts";
import { loadRecipe } from "../src/rl/recipe.ts";
import { ensureModelDir, trainingPrompts } from "../src/rl/run-setup.ts";
import { type SftExample, sftStep } from "../src/sft/sft-step.ts";
import { VerifierPool } from "../src/verify/pool.ts";

export interface GrpoBenchResult {
  bench: "grpo";
  steps: number;
  completions_per_step: number;
  /** Median wall time of a GRPO step. */
  step_s: number;
  gen_frac: number;
  reward_frac: number;
  train_frac: number;
  /** Prompt + completion tokens of a step's batch per second of the whole step. */
  tokens_per_s: number;
  /** Training part of the GRPO step: tokens per second (reference pass, loss, backward, AdamW). */
  train_tokens_per_s: number;
  /** The comparison point: one SFT step on the same sequences, tokens per second. */
  sft_tokens_per_s: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchGrpo(options: { steps?: number; threads?: number; log?: (line: string) => void }) {
  const log = options.log ?? (() => {});
  const steps = options.steps ?? 3;
  const recipe = await loadRecipe(DEMO_RECIPE);
  const g = recipe.grpo;
  if (!g || !("synthetic" in recipe.data.train)) throw new Error("bench grpo: the demo recipe changed shape");
  const dir = await mkdtemp(join(tmpdir(), "reasonrl-bench-grpo-"));
  const verifier = new VerifierPool();
  try {
    await ensureModelDir({ ...recipe.model, path: dir });
    const tok = Tokenizer.fromDir(dir);
    const engine = new Engine({ threads: options.threads });
    const { config, weights } = await loadModel(engine, dir, { trainable: true });
    const reference = frozenCopy(engine, weights);
    const generator = new LocalGenerator(engine, config, weights, { eosIds: [...tok.eosIds] }, tok);
    const optimizer = new AdamW(engine, trainableParameters(weights), g.optimizer);
    const train = await loadProblems(recipe.data.train, "train");
    const prompts = trainingPrompts(tok, recipe.prompt, train, g.maxPromptTokens, () => {});
    const reward = await rewardFunction(g.rewards, { verifier, warn: () => {} });
    const {
      steps: _s,
      promptsPerStep,
      maxPromptTokens: _m,
      rewards: _r,
      optimizer: _o,
      schedule: _c,
      ...stepOptions
    } = g;
    const grpoOptions = GrpoOptions.parse(stepOptions);
    log(
      `demo configuration: ${promptsPerStep} prompts x ${g.groupSize} completions, up to ${g.maxTokens} tokens`,
    );

    const times: { step: number; gen: number; reward: number; train: number; tokens: number }[] = [];
    let lastBatch: SftExample[] = [];
    for (let s = 0; s <= steps; s++) {
      const picked = Array.from(
        { length: promptsPerStep },
        (_, i) => prompts[(s * promptsPerStep + i) % prompts.length],
      );
      // The batch of the step: every completion with its prompt, seen as the reward function gets them.
      let batch: SftExample[] = [];
      const recording = async (inputs: Parameters<typeof reward>[0]) => {
        batch = inputs.map((input, i) => ({
          prompt: picked[Math.floor(i / g.groupSize)].ids,
          completion: Int32Array.from(input.completion.tokenIds),
        }));
        return reward(inputs);
      };
      const t0 = performance.now();
      const m = await grpoStep(
        { engine, config, policy: weights, reference, generator, optimizer },
        recording,
        grpoOptions,
        { prompts: picked, lr: g.optimizer.lr, seed: s },
      );
      const wall = (performance.now() - t0) / 1000;
      const tokens = batch.reduce((n, b) => n + b.prompt.length + b.completion.length, 0);
      if (s > 0) {
        // step 0 warms up (graph shapes, allocations)
        times.push({ step: wall, gen: m.generate_s, reward: m.reward_s, train: m.train_s, tokens });
        log(
          `step ${s}: ${wall.toFixed(2)} s (generate ${m.generate_s.toFixed(2)}, reward ${m.reward_s.toFixed(2)}, train ${m.train_s.toFixed(2)}), ${tokens} tokens`,
        );
      }
      lastBatch = batch;
    }
    // The comparison point: an SFT step on the last GRPO batch's sequences.
    const sftTimes: number[] = [];
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      await sftStep({ engine, config, policy: weights, optimizer }, lastBatch, {
        lr: 0,
        chunkRows: g.chunkRows,
      });
      if (k > 0) sftTimes.push((performance.now() - t0) / 1000);
    }
    const sftTokens = lastBatch.reduce((n, b) => n + b.prompt.length + b.completion.length, 0);
    const stepS = median(times.map((t) => t.step));
    const sum = (f: (t: (typeof times)[number]) => number) => times.reduce((a, t) => a + f(t), 0);
    const total = sum((t) => t.step);
    const result: GrpoBenchResult = {
      bench: "grpo",
      steps: times.length,
      completions_per_step: promptsPerStep * g.groupSize,
      step_s: round(stepS),
      gen_frac: round(sum((t) => t.gen) / total),
      reward_frac: round(sum((t) => t.reward) / total),
      train_frac: round(sum((t) => t.train) / total),
      tokens_per_s: round(sum((t) => t.tokens) / total, 0),
      train_tokens_per_s: round(sum((t) => t.tokens) / sum((t) => t.train), 0),
      sft_tokens_per_s: round(sftTokens / median(sftTimes), 0),
    };
    return result;
  } finally {
    await verifier.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function describeGrpoBench(r: GrpoBenchResult): string {
  return (
    `GRPO step ${r.step_s} s for ${r.completions_per_step} completions: generation ${(100 * r.gen_frac).toFixed(0)}%, ` +
    `rewards ${(100 * r.reward_frac).toFixed(0)}%, training ${(100 * r.train_frac).toFixed(0)}%; ${r.tokens_per_s} tokens/s overall; ` +
    `training ${r.train_tokens_per_s} tokens/s vs a plain SFT step ${r.sft_tokens_per_s} tokens/s`
  );
}
