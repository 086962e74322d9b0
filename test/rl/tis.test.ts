/**
 * The sampler's log-probs in a GRPO step: the sampler/trainer mismatch metrics
 * (~0 with the local sampler, which runs the trainer's own weights) and
 * truncated importance sampling (grpo.loss.tis), whose gradient is the loss's
 * with each token's surrogate weighted by min(exp(old - sampler), C).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AdamW, Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import type { Generator } from "../../src/generate/types.ts";
import {
  frozenCopy,
  initLlamaWeights,
  parseLlamaConfig,
  trainableParameters,
} from "../../src/model/llama.ts";
import type { GrpoRow } from "../../src/rl/grpo-batch.ts";
import { lossWeights } from "../../src/rl/grpo-loss.ts";
import { GrpoOptions, type GrpoOptionsInput, grpoStep } from "../../src/rl/grpo-step.ts";
import { fixedLogProbs, grpoUpdates, lossBatch } from "../../src/rl/grpo-update.ts";
import type { TrainModels } from "../../src/train/models.ts";
import { batchLogProbs } from "../../src/train/token-loss.ts";
import { idMean, promptsOf, rewardOf } from "./helpers.ts";

const engine = new Engine({ threads: 2 });
const config = parseLlamaConfig({ vocabSize: 12, hidden: 16, layers: 2, heads: 2, kvHeads: 1, ffn: 32 });
const prompts = promptsOf([[1, 2], [3]]);
const base = { groupSize: 4, maxTokens: 5, chunkRows: 16 };

/** A fresh tiny policy (always the same weights) with its optimizer, a reference and a local generator. */
function tinyModels(): TrainModels & { generator: LocalGenerator } {
  const policy = initLlamaWeights(engine, config, 5);
  return {
    engine,
    config,
    policy,
    reference: frozenCopy(engine, policy),
    generator: new LocalGenerator(engine, config, policy),
    optimizer: new AdamW(engine, trainableParameters(policy), { maxGradNorm: 1 }),
  };
}

/** A generator whose log-probs are the inner one's plus `shift` (a sampler that disagrees with the trainer). */
function shifted(inner: Generator, shift: number): Generator {
  return {
    async generate(ids, options) {
      const groups = await inner.generate(ids, options);
      return groups.map((g) => g.map((c) => ({ ...c, logprobs: c.logprobs.map((lp) => lp + shift) })));
    },
  };
}

async function step(options: GrpoOptionsInput, generator?: (m: LocalGenerator) => Generator) {
  const m = tinyModels();
  const models = generator ? { ...m, generator: generator(m.generator) } : m;
  const { metrics } = await grpoStep(models, rewardOf(idMean), GrpoOptions.parse(options), {
    prompts,
    lr: 1e-2,
    seed: 3,
  });
  m.optimizer.free();
  return metrics;
}

describe("sampler/trainer mismatch metrics", () => {
  for (const [what, options] of [
    ["temperature 1", { temperature: 1 }],
    ["temperature 0.7, logitsAtSamplingTemperature", { temperature: 0.7, logitsAtSamplingTemperature: true }],
  ] as const) {
    test(`the local sampler agrees with the trainer up to float noise (${what})`, async () => {
      const metrics = await step({ ...base, ...options, loss: { beta: 0.04 } });
      const { logprob_diff_mean, logprob_diff_max, logprob_ratio_mean } = metrics;
      assert.ok(logprob_diff_max !== undefined && logprob_diff_max < 1e-4, `max ${logprob_diff_max}`);
      assert.ok(
        logprob_diff_mean !== undefined && logprob_diff_mean <= logprob_diff_max,
        `${logprob_diff_mean}`,
      );
      assert.ok(Math.abs((logprob_ratio_mean ?? 0) - 1) < 1e-4, `ratio ${logprob_ratio_mean}`);
      assert.equal(metrics.tis_weight_mean, undefined, "no TIS metrics without TIS");
    });
  }

  test("a sampler off by 0.25 nats on every token: |diff| 0.25, ratio exp(-0.25)", async () => {
    const metrics = await step({ ...base, temperature: 1, loss: { beta: 0 } }, (g) => shifted(g, 0.25));
    assert.ok(Math.abs((metrics.logprob_diff_mean ?? 0) - 0.25) < 1e-4, `${metrics.logprob_diff_mean}`);
    assert.ok(Math.abs((metrics.logprob_diff_max ?? 0) - 0.25) < 1e-4, `${metrics.logprob_diff_max}`);
    assert.ok(Math.abs((metrics.logprob_ratio_mean ?? 0) - Math.exp(-0.25)) < 1e-4);
  });

  test("at different temperatures (0.7, trainer at 1) the metrics are left out", async () => {
    const metrics = await step({ ...base, temperature: 0.7, loss: { beta: 0 } });
    for (const key of ["logprob_diff_mean", "logprob_diff_max", "logprob_ratio_mean"])
      assert.ok(!(key in metrics), key);
    assert.ok(metrics.grad_norm > 0, "the step trained");
  });
});

describe("truncated importance sampling", () => {
  const cap = 2;
  // Two prompts, two completions each: 4 rows, 11 trained tokens.
  const completions = [
    [5, 6, 7],
    [8, 9],
    [4, 4, 4],
    [10, 11, 3],
  ].map((c) => Int32Array.from(c));
  const advantages = [1, -1, 0.5, -0.5];
  const weights = lossWeights(
    completions.map((c) => c.length),
    "bnpo",
  );
  const rows = (tokenWeight: (token: number) => number = () => 1): GrpoRow[] => {
    let at = 0;
    return completions.map((completion, i) => {
      const w = Float32Array.from(completion, () => weights[at] * tokenWeight(at++));
      const prompt = prompts[i >> 1].ids;
      return {
        prompt,
        completion,
        advantage: advantages[i],
        weights: w,
        samplerLogProbs: new Float32Array(completion.length),
      };
    });
  };
  /** The known shift old - sampler of trained token k: capped (> ln 2) and not, both signs. */
  const delta = (k: number) => [0.3, -0.4, 1.2, 0, -1.5, 0.9][k % 6];

  /**
   * One update from fresh weights on `rowsOf` with options `o`, the sampler's log-probs being
   * the trainer's old ones minus `shift` (per trained token, or undefined: the rows' own).
   * Returns the accumulated gradient (an optimizer that only reads it), the metrics, the weights after a real AdamW step.
   */
  async function update(o: Partial<GrpoOptionsInput>, rowsOf: GrpoRow[], shift?: (k: number) => number) {
    const options = GrpoOptions.parse({ ...base, temperature: 1, ...o });
    const m = tinyModels();
    const params = trainableParameters(m.policy);
    const part = lossBatch(rowsOf);
    if (shift) {
      const old = await batchLogProbs({ engine, config, weights: m.policy }, part.batch, { chunkRows: 16 });
      let k = 0;
      for (let i = 0; i < part.weights.length; i++)
        if (part.weights[i] > 0) part.sampler[i] = old[i] - shift(k++);
    }
    let gradient: number[] = [];
    const reading = {
      async step({ lr = 0 } = {}) {
        gradient = params.flatMap((p) => Array.from(p.grad?.readF32() ?? []));
        engine.zeroGrads(params);
        return { gradNorm: 1, skipped: false, lr };
      },
    } as unknown as AdamW;
    const graded = { ...m, optimizer: reading };
    const metrics = await grpoUpdates(graded, await fixedLogProbs(graded, [part], options), options, 0.1);
    await grpoUpdates(m, await fixedLogProbs(m, [part], options), options, 0.1);
    const after = params.map((p) => Array.from(p.readF32()));
    m.optimizer.free();
    return { gradient, metrics, after };
  }

  test("with the sampler off by a known amount, the gradient is the loss's with each token weighted by min(exp(old - sampler), C)", async () => {
    const tis = await update({ loss: { beta: 0, tis: { cap } } }, rows(), delta);
    const byHand = await update(
      { loss: { beta: 0 } },
      rows((k) => Math.min(Math.exp(delta(k)), cap)),
    );
    const plain = await update({ loss: { beta: 0 } }, rows());
    const norm = Math.hypot(...byHand.gradient);
    const off = Math.hypot(...tis.gradient.map((g, i) => g - byHand.gradient[i]));
    assert.ok(norm > 0 && off <= 1e-5 * norm, `off by ${off / norm} (relative)`);
    const plainOff = Math.hypot(...plain.gradient.map((g, i) => g - byHand.gradient[i]));
    assert.ok(plainOff > 1e-2 * norm, "the weighting changes the gradient");
    const expected = Array.from({ length: 11 }, (_, k) => Math.min(Math.exp(delta(k)), cap));
    const mean = expected.reduce((a, b) => a + b) / expected.length;
    assert.ok(
      Math.abs((tis.metrics.tis_weight_mean ?? 0) - mean) < 1e-5,
      `${tis.metrics.tis_weight_mean} vs ${mean}`,
    );
    assert.equal(tis.metrics.tis_capped_fraction, expected.filter((w) => w === cap).length / expected.length);
  });

  for (const o of [
    { loss: { beta: 0 } },
    { loss: { beta: 0.04 }, numIterations: 2 },
  ] satisfies Partial<GrpoOptionsInput>[]) {
    test(`with the sampler's log-probs equal to the trainer's old ones, the update is no TIS's, bit for bit (${JSON.stringify(o)})`, async () => {
      const tis = await update({ ...o, loss: { ...o.loss, tis: { cap } } }, rows(), () => 0);
      const plain = await update(o, rows());
      assert.deepEqual(tis.gradient, plain.gradient);
      assert.deepEqual(tis.after, plain.after);
      assert.equal(tis.metrics.loss, plain.metrics.loss);
      assert.equal(tis.metrics.tis_weight_mean, 1);
    });
  }

  test("at a sampling temperature the trainer does not use, TIS is refused, naming the field", async () => {
    await assert.rejects(
      step({ ...base, temperature: 0.7, loss: { beta: 0, tis: { cap } } }),
      /grpo\.loss\.tis needs logitsAtSamplingTemperature or temperature 1/,
    );
    const metrics = await step({
      ...base,
      temperature: 0.7,
      logitsAtSamplingTemperature: true,
      loss: { beta: 0, tis: { cap } },
    });
    assert.ok(metrics.tis_weight_mean !== undefined && Math.abs(metrics.tis_weight_mean - 1) < 1e-4);
  });

  test("off by default (the paper recipes)", () => {
    assert.equal(GrpoOptions.parse({ ...base }).loss.tis, false);
    assert.deepEqual(GrpoOptions.parse({ ...base, loss: { tis: {} } }).loss.tis, { cap: 2 });
  });
});
