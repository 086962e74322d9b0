/**
 * GRPO end to end on a tiny model: a reward that counts one token is learned;
 * then numIterations, dynamic sampling and overlong filtering.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AdamW, Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import type { Completion, Generator } from "../../src/generate/types.ts";
import { tokenLogProbs } from "../../src/model/chunked-loss.ts";
import {
  frozenCopy,
  initLlamaWeights,
  parseLlamaConfig,
  trainableParameters,
} from "../../src/model/llama.ts";
import type { RewardFunction } from "../../src/rewards/types.ts";
import { groupAdvantages } from "../../src/rl/advantages.ts";
import { trainingRows } from "../../src/rl/grpo-batch.ts";
import { GrpoOptions, type GrpoOptionsInput, grpoStep } from "../../src/rl/grpo-step.ts";
import { fixedLogProbs, lossBatch } from "../../src/rl/grpo-update.ts";
import { listSource } from "../../src/rl/prompts.ts";
import type { TrainModels } from "../../src/train/models.ts";
import { batchLogProbs } from "../../src/train/token-loss.ts";
import { idMean, promptIndex, promptsOf, rewardOf } from "./helpers.ts";

const engine = new Engine({ threads: 2 });
const config = parseLlamaConfig({ vocabSize: 12, hidden: 16, layers: 2, heads: 2, kvHeads: 1, ffn: 32 });
const TARGET = 7;
const reward = rewardOf((cs) =>
  cs.map((c) => c.completion.tokenIds.filter((t) => t === TARGET).length / c.completion.tokenIds.length),
);
const prompts = promptsOf([[1, 2], [3]]);

/** One step with options `o` (parsed here, as at any API boundary) at learning rate `lr`, seed `seed`. */
async function step(
  m: TrainModels,
  r: RewardFunction,
  o: GrpoOptionsInput & { lr: number; seed: number },
  more?: Parameters<typeof listSource>[0],
  on = prompts,
) {
  const { lr, seed, ...options } = o;
  const result = await grpoStep(m, r, GrpoOptions.parse(options), {
    prompts: on,
    source: more && listSource(more),
    lr,
    seed,
  });
  return result.metrics;
}

for (const beta of [0, 0.04]) {
  test(`the policy learns the rewarded token (beta ${beta})`, async () => {
    const policy = initLlamaWeights(engine, config, 11);
    const reference = beta > 0 ? frozenCopy(engine, policy) : undefined;
    const optimizer = new AdamW(engine, trainableParameters(policy), { maxGradNorm: 1 });
    const generator = new LocalGenerator(engine, config, policy);
    const models = { engine, config, policy, reference, generator, optimizer };
    const history = [];
    for (let i = 0; i < 25; i++) {
      const m = await step(models, reward, {
        groupSize: 6,
        temperature: 1,
        maxTokens: 6,
        loss: { beta, lossType: "bnpo", epsLow: 0.2 },
        lr: 2e-2,
        seed: i,
        chunkRows: 16,
      });
      assert.ok(Number.isFinite(m.loss) && !m.skipped);
      assert.equal(m.completion_length, 6);
      assert.equal(m.clipped_fraction, 1);
      if (beta > 0) assert.ok(m.kl >= 0);
      history.push(m.reward);
    }
    const first = history.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = history.slice(-5).reduce((a, b) => a + b) / 5;
    assert.ok(last > 0.5 && last > first + 0.3, `reward ${first.toFixed(3)} -> ${last.toFixed(3)}`);
    optimizer.free();
  });
}

/** A generator that passes through to another and records each call. */
class RecordingGenerator implements Generator {
  readonly calls: Array<{ prompts: Int32Array[]; seed?: number; groups: Completion[][] }> = [];
  constructor(readonly inner: Generator) {}
  async generate(ids: Int32Array[], options: Parameters<Generator["generate"]>[1] = {}) {
    const groups = await this.inner.generate(ids, options);
    this.calls.push({ prompts: ids, seed: options.seed, groups });
    return groups;
  }
}

/** A fresh tiny policy with its optimizer and a recording generator (EOS = token 0 when asked). */
function tinyModels({ eos = false, reference = false } = {}) {
  const policy = initLlamaWeights(engine, config, 5);
  const generator = new RecordingGenerator(
    new LocalGenerator(engine, config, policy, { eosIds: eos ? [0] : [] }),
  );
  const optimizer = new AdamW(engine, trainableParameters(policy), { maxGradNorm: 1 });
  return {
    engine,
    config,
    policy,
    reference: reference ? frozenCopy(engine, policy) : undefined,
    generator,
    optimizer,
  };
}

const base = { groupSize: 4, temperature: 1, maxTokens: 5, loss: { beta: 0 }, chunkRows: 16, seed: 3 };
const idSum = rewardOf(idMean);

describe("numIterations", () => {
  test("mu = 2 makes two updates on one batch, and the clip binds with a large lr", async () => {
    const m = tinyModels();
    const metrics = await step(m, idSum, { ...base, numIterations: 2, lr: 0.3 });
    assert.equal(m.optimizer.stepCount, 2);
    assert.equal(m.generator.calls.length, 1, "one generation for both updates");
    assert.ok(!metrics.skipped && Number.isFinite(metrics.loss) && metrics.grad_norm > 0);
    assert.ok(metrics.clip_ratio > 0 && metrics.clip_ratio <= 0.5, `clip_ratio ${metrics.clip_ratio}`);
    m.optimizer.free();
  });

  test("clip_ratio: the share of tokens clipped on the side the clip binds, as TRL counts it", async () => {
    // `two` makes both updates; `one`, from the same weights and seed, only the first, so its
    // weights are those the second update of `two` starts from; `initial` gives the old log-probs.
    const [two, one, initial] = [tinyModels(), tinyModels(), tinyModels()];
    const options = { ...base, loss: { beta: 0, epsLow: 0.2, epsHigh: 0.28 }, lr: 0.05 };
    const metrics = await step(two, idSum, { ...options, numIterations: 2 });
    await step(one, idSum, options);
    const groups = two.generator.calls[0].groups.map((completions, i) => ({
      prompt: prompts[i],
      completions,
      rewards: Float32Array.from(completions.map((c) => c.ids.reduce((a, b) => a + b, 0) / c.ids.length)),
      terms: {},
      round: 0,
    }));
    const { batch, weights, advantages } = lossBatch(
      trainingRows(groups, { ...base, scaleRewards: "group", lossType: "bnpo", overlongFilter: false }),
    );
    const tokens = {
      ids: engine.tensor([batch.rows, batch.positions], { data: batch.ids, dtype: "i32" }),
      positions: engine.tensor([batch.positions], {
        data: Int32Array.from({ length: batch.positions }, (_, i) => i),
        dtype: "i32",
      }),
      targets: batch.targets,
    };
    const old = await tokenLogProbs(engine, config, initial.policy, tokens);
    const lp = await tokenLogProbs(engine, config, one.policy, tokens);
    let clipped = 0;
    let counted = 0;
    for (let i = 0; i < lp.length; i++) {
      if (weights[i] === 0) continue;
      const ratio = Math.exp(lp[i] - old[i]);
      const a = advantages[i];
      if ((ratio < 0.8 && a < 0) || (ratio > 1.28 && a > 0)) clipped++;
      counted++;
    }
    // The first update counts nothing (its ratio is 1): the mean over both is half the second's share.
    const expected = clipped / counted / 2;
    assert.ok(expected > 0, "the test needs clipped tokens");
    assert.ok(
      Math.abs(metrics.clip_ratio - expected) < 1e-6,
      `clip_ratio ${metrics.clip_ratio} vs ${expected}`,
    );
    tokens.ids.free();
    tokens.positions.free();
    for (const m of [two, one, initial]) m.optimizer.free();
  });

  test("mu = 1: one update, clip_ratio 0, entropy finite, positive and at most log V", async () => {
    const m = tinyModels();
    const metrics = await step(m, idSum, { ...base, lr: 0.3 });
    assert.equal(m.optimizer.stepCount, 1);
    assert.equal(metrics.clip_ratio, 0);
    assert.ok(
      metrics.entropy > 0 && metrics.entropy <= Math.log(config.vocabSize) + 1e-6,
      `${metrics.entropy}`,
    );
    assert.equal(metrics.groups_kept, prompts.length);
    assert.equal(metrics.generation_rounds, 1);
    m.optimizer.free();
  });
});

describe("dynamic sampling", () => {
  // Even prompt indices score 0 whatever the completion (no signal), odd ones by their ids.
  const byIndex = (seen: number[][]) =>
    rewardOf((cs) => {
      seen.push(cs.map(promptIndex));
      const ids = idMean(cs);
      return cs.map((c, i) => (promptIndex(c) % 2 === 0 ? 0 : ids[i]));
    });

  /** A source that serves `prompts` in order and records each count asked for. */
  const recordingSource = (served: ReturnType<typeof promptsOf>, asked: number[]) => {
    const inner = listSource(served);
    return {
      more(count: number) {
        asked.push(count);
        return inner.more(count);
      },
    };
  };

  test("drops constant groups and asks the prompt source for more, round by round", async () => {
    const m = tinyModels();
    const given = promptsOf([[1, 2], [3], [4, 5]]);
    const extra = promptsOf([[6], [7, 8], [9], [10, 11]], 3);
    const asked: number[] = [];
    const seen: number[][] = [];
    const o = GrpoOptions.parse({ ...base, dynamicSampling: true });
    const { metrics } = await grpoStep(m, byIndex(seen), o, {
      prompts: given,
      source: recordingSource(extra, asked),
      lr: 1e-2,
      seed: base.seed,
    });
    // Round 0: prompts 0..2, only 1 informative; round 1: 3, 4 (3 kept); round 2: 5 (kept).
    assert.deepEqual(asked, [2, 1]);
    const G = base.groupSize;
    assert.deepEqual(
      seen,
      [[0, 1, 2], [3, 4], [5]].map((idx) => idx.flatMap((i) => Array(G).fill(i))),
    );
    const generatedPrompts = m.generator.calls.flatMap((c) => c.prompts);
    assert.deepEqual(
      generatedPrompts,
      [...given, ...extra.slice(0, 3)].map((p) => p.ids),
    );
    assert.equal(metrics.groups_kept, 3);
    assert.equal(metrics.generation_rounds, 3);
    assert.equal(m.optimizer.stepCount, 1);
    const seeds = m.generator.calls.map((c) => c.seed);
    assert.equal(new Set(seeds).size, 3, `distinct seeds per round: ${seeds}`);
    assert.equal(seeds[0], base.seed);
    m.optimizer.free();
  });

  test("reward metrics cover every rewarded completion, dropped ones included", async () => {
    const m = tinyModels();
    const rewards: number[] = [];
    const inner = byIndex([]);
    const reward: RewardFunction = async (cs) => {
      const r = await inner(cs);
      rewards.push(...r.rewards);
      return { ...r, metrics: { reward_mean_id: 1 } };
    };
    const metrics = await step(m, reward, { ...base, dynamicSampling: { maxRounds: 1 }, lr: 1e-2 });
    assert.equal(metrics.groups_kept, 1);
    const mean = rewards.reduce((a, b) => a + b) / rewards.length;
    assert.equal(rewards.length, prompts.length * base.groupSize);
    assert.ok(Math.abs(metrics.reward - mean) < 1e-6, `${metrics.reward} vs ${mean}`);
    assert.equal(metrics.reward_mean_id, 1, "the reward function's metrics join the step's");
    m.optimizer.free();
  });

  test("later rounds sample with their own seeds (same prompt, other completions)", async () => {
    const m = tinyModels();
    const constant = rewardOf((cs) => cs.map(() => 1));
    const options = { ...base, dynamicSampling: { maxRounds: 2 }, lr: 1e-2 };
    await step(m, constant, options, [prompts[0]], [prompts[0]]);
    const [first, second] = m.generator.calls.map((c) => c.groups[0].map((s) => Array.from(s.ids).join()));
    assert.notDeepEqual(first, second);
    m.optimizer.free();
  });

  test("no informative group: the step is skipped cleanly, weights untouched", async () => {
    const m = tinyModels();
    const before = trainableParameters(m.policy).map((t) => t.readF32());
    const asked: number[] = [];
    const o = GrpoOptions.parse({ ...base, dynamicSampling: true });
    const { metrics } = await grpoStep(
      m,
      rewardOf((cs) => cs.map(() => 0.5)),
      o,
      {
        prompts,
        source: recordingSource([...prompts, ...prompts], asked),
        lr: 1e-1,
        seed: base.seed,
      },
    );
    assert.deepEqual(asked, [2, 2]);
    assert.equal(metrics.skipped, true);
    assert.equal(metrics.skip_reason, "no informative group");
    assert.equal(metrics.groups_kept, 0);
    assert.equal(metrics.generation_rounds, 3);
    assert.equal(metrics.reward, 0.5);
    assert.equal(m.optimizer.stepCount, 0);
    const after = trainableParameters(m.policy).map((t) => t.readF32());
    assert.deepEqual(after, before);
    m.optimizer.free();
  });

  test("off: constant groups are kept (and teach nothing)", async () => {
    const m = tinyModels();
    const metrics = await step(
      m,
      rewardOf((cs) => cs.map(() => 0.5)),
      { ...base, lr: 1e-2 },
    );
    assert.equal(metrics.skipped, false);
    assert.equal(metrics.groups_kept, prompts.length);
    assert.equal(m.optimizer.stepCount, 1);
    m.optimizer.free();
  });
});

describe("overlong filtering", () => {
  test("every completion cut at maxTokens: the step is skipped", async () => {
    const m = tinyModels();
    const metrics = await step(m, idSum, { ...base, maxTokens: 2, overlongFilter: true, lr: 1e-2 });
    assert.equal(metrics.clipped_fraction, 1);
    assert.equal(metrics.skipped, true);
    assert.equal(metrics.skip_reason, "every completion overlong");
    assert.equal(m.optimizer.stepCount, 0);
    assert.ok(Number.isFinite(metrics.reward));
    m.optimizer.free();
  });

  for (const overlongFilter of [true, false]) {
    test(`the loss weighs ${overlongFilter ? "only completions that stopped" : "every completion"} (bnpo)`, async () => {
      const m = tinyModels({ eos: true });
      const options = { ...base, groupSize: 6, maxTokens: 6, overlongFilter, lr: 1e-2 };
      const metrics = await step(m, idSum, options);
      const completions = m.generator.calls[0].groups.flat();
      const cut = completions.map((c) => c.finishReason === "length");
      assert.ok(cut.includes(true) && cut.includes(false), "the test needs both kinds");
      // At the first update the ratio is 1, so the loss is -sum_i A_i |o_i| / (tokens counted), beta = 0.
      const means = completions.map((c) => c.ids.reduce((a, b) => a + b, 0) / c.ids.length);
      const advantages = groupAdvantages(Float32Array.from(means), { groupSize: 6 });
      let sum = 0;
      let tokens = 0;
      for (const [i, c] of completions.entries()) {
        if (overlongFilter && cut[i]) continue;
        sum -= advantages[i] * c.ids.length;
        tokens += c.ids.length;
      }
      assert.ok(Math.abs(metrics.loss - sum / tokens) < 1e-4, `loss ${metrics.loss} vs ${sum / tokens}`);
      assert.equal(metrics.clipped_fraction, cut.filter(Boolean).length / cut.length);
      m.optimizer.free();
    });
  }
});

describe("numIterations 1 skips the old log-prob pass", () => {
  test("the same update as the ratio form with the old log-probs computed (numIterations 2, first update)", async () => {
    // With numIterations 2 the first update uses old log-probs from their own pass; its weights after
    // that update must equal those of a numIterations 1 step, which takes old = lp (detached).
    const [once, twice] = [tinyModels({ reference: true }), tinyModels({ reference: true })];
    const options = { ...base, loss: { beta: 0.04 }, lr: 0.05 };
    const one = await step(once, idSum, options);
    const snapshot: Float32Array[] = [];
    const optimizerStep = twice.optimizer.step.bind(twice.optimizer);
    twice.optimizer.step = async (o) => {
      const r = await optimizerStep(o);
      if (snapshot.length === 0) snapshot.push(...trainableParameters(twice.policy).map((t) => t.readF32()));
      return r;
    };
    await step(twice, idSum, { ...options, numIterations: 2 });
    const after = trainableParameters(once.policy).map((t) => t.readF32());
    for (const [i, w] of after.entries()) {
      let diff = 0;
      for (let j = 0; j < w.length; j++) diff = Math.max(diff, Math.abs(w[j] - snapshot[i][j]));
      assert.ok(diff < 1e-6, `tensor ${i}: off by ${diff}`);
    }
    assert.ok(Number.isFinite(one.loss) && one.kl >= 0);
    for (const m of [once, twice]) m.optimizer.free();
  });
});

test("the same seed gives the same step", async () => {
  const run = async () => {
    const m = tinyModels({ reference: true });
    const reward = rewardOf((cs) => {
      const ids = idMean(cs);
      return cs.map((c, i) => (promptIndex(c) === 0 ? 0 : ids[i]));
    });
    const options = { ...base, loss: { beta: 0.04 }, numIterations: 2, dynamicSampling: true, lr: 1e-2 };
    const metrics = await step(m, reward, options, [prompts[0], prompts[1], prompts[0]]);
    m.optimizer.free();
    const { generate_s, reward_s, train_s, ...rest } = metrics;
    return { rest, weights: trainableParameters(m.policy).map((t) => Array.from(t.readF32())) };
  };
  const [a, b] = [await run(), await run()];
  assert.deepEqual(a, b);
  assert.ok((a.rest.kl as number) > 0 && (a.rest.generation_rounds as number) > 1);
});

describe("logitsAtSamplingTemperature (TRL >= 0.16)", () => {
  const run = async (options: Partial<GrpoOptionsInput> & { temperature: number }) => {
    const m = tinyModels({ reference: true });
    const metrics = await step(m, idSum, {
      ...base,
      loss: { beta: 0.04 },
      numIterations: 2,
      lr: 1e-2,
      ...options,
    });
    m.optimizer.free();
    const { generate_s, reward_s, train_s, ...rest } = metrics;
    return { rest, weights: trainableParameters(m.policy).map((t) => Array.from(t.readF32())) };
  };

  test("at sampling temperature 1 the step is bit-identical to the paper's (off)", async () => {
    assert.deepEqual(
      await run({ temperature: 1, logitsAtSamplingTemperature: true }),
      await run({ temperature: 1 }),
    );
  });

  test("at 0.7 the reference and old log-probs are those of logits / 0.7, and the step changes", async () => {
    const m = tinyModels({ reference: true });
    const rows = promptsOf([[1, 2, 3, 4]]).map((p) => ({
      prompt: p.ids,
      completion: Int32Array.from([5, 6, 7]),
      advantage: 1,
      weights: Float32Array.from([1, 1, 1]),
      samplerLogProbs: new Float32Array(3),
    }));
    const o = GrpoOptions.parse({ ...base, loss: { beta: 0.04 }, numIterations: 2, temperature: 0.7 });
    const [on] = await fixedLogProbs(m, [lossBatch(rows)], { ...o, logitsAtSamplingTemperature: true });
    const [off] = await fixedLogProbs(m, [lossBatch(rows)], o);
    const batch = lossBatch(rows).batch;
    const pass = { engine, config, weights: m.reference as NonNullable<typeof m.reference> };
    const at = (temperature: number) => batchLogProbs(pass, batch, { chunkRows: 16, temperature });
    assert.deepEqual(on.ref, await at(0.7));
    assert.deepEqual(off.ref, await at(1));
    assert.deepEqual(
      on.old,
      await batchLogProbs({ ...pass, weights: m.policy }, batch, { chunkRows: 16, temperature: 0.7 }),
    );
    assert.notDeepEqual(on.ref, off.ref);
    m.optimizer.free();
    const [hot, cold] = [
      await run({ temperature: 0.7, logitsAtSamplingTemperature: true }),
      await run({ temperature: 0.7 }),
    ];
    assert.notDeepEqual(hot.weights, cold.weights);
  });

  test("greedy sampling (temperature 0) with the option is refused", async () => {
    const m = tinyModels();
    await assert.rejects(
      step(m, idSum, { ...base, temperature: 0, logitsAtSamplingTemperature: true, lr: 1e-2 }),
      /temperature > 0/,
    );
    m.optimizer.free();
  });
});
