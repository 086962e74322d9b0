/**
 * GRPO in micro-batches (gradient accumulation): for every loss type, any
 * microBatch gives the update, loss and metrics of one pass over all rows.
 *
 * The optimizer of these tests has eps = 1 and no clipping: on the first AdamW
 * step the update is then lr * g / (|g| + 1) ~ lr * g, so comparing weight
 * changes compares gradients (with the usual tiny eps the first step is about
 * lr * sign(g), blind to the gradient's scale and noisy where g ~ 0).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AdamW, Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import {
  frozenCopy,
  initLlamaWeights,
  parseLlamaConfig,
  trainableParameters,
} from "../../src/model/llama.ts";
import {
  GrpoOptions,
  type GrpoOptionsInput,
  type GrpoStepMetrics,
  grpoStep,
} from "../../src/rl/grpo-step.ts";
import { idMean, promptsOf, rewardOf } from "./helpers.ts";

const engine = new Engine({ threads: 2 });
const config = parseLlamaConfig({ vocabSize: 12, hidden: 16, layers: 2, heads: 2, kvHeads: 1, ffn: 32 });
const prompts = promptsOf([[1, 2], [3]]);
const base = { groupSize: 4, temperature: 1, maxTokens: 6, chunkRows: 16 };

/** The trainable weights, flattened. */
const weightsOf = (policy: ReturnType<typeof initLlamaWeights>) =>
  Float64Array.from(trainableParameters(policy).flatMap((t) => Array.from(t.readF32())));
const initial = weightsOf(initLlamaWeights(engine, config, 5));

/**
 * One step from fresh weights (the same every time, as are the completions:
 * same seed, EOS = token 0 so that lengths differ). Returns the metrics, the
 * weights' change and the lengths of the completions.
 */
async function step(options: Partial<GrpoOptionsInput> & { lr?: number }) {
  const policy = initLlamaWeights(engine, config, 5);
  const generator = new LocalGenerator(engine, config, policy, { eosIds: [0] });
  const optimizer = new AdamW(engine, trainableParameters(policy), { eps: 1 });
  let lengths: number[] = [];
  const reward = rewardOf((cs) => {
    lengths = cs.map((c) => c.completion.tokenIds.length);
    return idMean(cs);
  });
  const models = { engine, config, policy, reference: frozenCopy(engine, policy), generator, optimizer };
  const { lr = 0.5, ...rest } = options;
  const o = GrpoOptions.parse({ ...base, ...rest });
  const { metrics } = await grpoStep(models, reward, o, { prompts, lr, seed: 3 });
  const steps = optimizer.stepCount;
  optimizer.free();
  const after = weightsOf(policy);
  return { metrics, steps, lengths, delta: after.map((w, i) => w - initial[i]) };
}

/** ||a - b|| <= rel * ||b||. */
function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, rel: number, what: string) {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  assert.equal(a.length, b.length, what);
  assert.ok(norm > 0, `${what}: nothing to compare`);
  assert.ok(Math.sqrt(diff) <= rel * Math.sqrt(norm), `${what}: off by ${Math.sqrt(diff / norm)} (relative)`);
}

/** Metrics equal to rel (relative, with a floor for values near 0). */
function assertSameMetrics(a: GrpoStepMetrics, b: GrpoStepMetrics, what: string) {
  for (const key of ["loss", "grad_norm", "entropy", "kl", "clip_ratio"] as const) {
    const tol = 1e-5 * Math.max(Math.abs(b[key]), 1e-2);
    assert.ok(Math.abs(a[key] - b[key]) <= tol, `${what}: ${key} ${a[key]} vs ${b[key]}`);
  }
}

describe("micro-batches", () => {
  for (const lossType of ["grpo", "bnpo", "bnpo_per_group", "dr_grpo", "dapo"] as const) {
    test(`${lossType}: microBatch 1, 2, 3 and all give the one-pass update and metrics`, async () => {
      const loss = { beta: 0.04, lossType };
      const all = await step({ loss });
      assert.equal(all.steps, 1);
      assert.ok(
        new Set(all.lengths).size > 1,
        `the test needs completions of different lengths: ${all.lengths}`,
      );
      // At ratio 1 the "grpo" loss is -mean(A) = 0 (advantages sum to 0 in each group); the others weigh by length.
      if (lossType !== "grpo") assert.ok(Math.abs(all.metrics.loss) > 1e-3, `loss ${all.metrics.loss}`);
      // 8 rows: 8 passes of 1, 4 of 2, and 3 + 3 + 2 (uneven micro-batches)
      for (const microBatch of [1, 2, 3]) {
        const micro = await step({ loss, microBatch });
        assert.equal(micro.steps, 1, "one optimizer step per update, whatever the micro-batches");
        assert.deepEqual(micro.lengths, all.lengths, "the same completions");
        assertClose(micro.delta, all.delta, 1e-5, `${lossType}, microBatch ${microBatch}: weight change`);
        assertSameMetrics(micro.metrics, all.metrics, `${lossType}, microBatch ${microBatch}`);
      }
    });
  }

  test("numIterations 2: each update loops over the micro-batches with the stored old log-probs", async () => {
    const options = { loss: { beta: 0.04, epsLow: 0.05 }, numIterations: 2, lr: 2 };
    const all = await step(options);
    const micro = await step({ ...options, microBatch: 3 });
    assert.equal(all.steps, 2);
    assert.equal(micro.steps, 2);
    // The second update sees the first's change: ratios leave 1, the clip binds, the policy leaves the reference.
    assert.ok(all.metrics.clip_ratio > 0 && all.metrics.kl > 0, JSON.stringify(all.metrics));
    assertClose(micro.delta, all.delta, 1e-5, "weight change after two updates");
    assertSameMetrics(micro.metrics, all.metrics, "numIterations 2");
  });

  test("microBatch larger than the batch: one pass", async () => {
    const all = await step({ loss: { beta: 0 } });
    const big = await step({ loss: { beta: 0 }, microBatch: 100 });
    assert.deepEqual(big.delta, all.delta);
    assert.equal(big.metrics.loss, all.metrics.loss);
  });

  test("an invalid microBatch is refused", async () => {
    const options = { groupSize: 4, maxTokens: 6 };
    for (const microBatch of [0, -2, 1.5]) {
      assert.equal(GrpoOptions.safeParse({ ...options, microBatch }).success, false, `${microBatch}`);
      await assert.rejects(step({ microBatch }), /microBatch/);
    }
    assert.equal(GrpoOptions.safeParse({ ...options, microBatch: 4 }).success, true);
  });
});
