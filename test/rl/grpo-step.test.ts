/** GRPO end to end on a tiny model: a reward that counts one token is learned. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AdamW, Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import {
  frozenCopy,
  initLlamaWeights,
  parseLlamaConfig,
  trainableParameters,
} from "../../src/model/llama.ts";
import { grpoStep } from "../../src/rl/grpo-step.ts";

const engine = new Engine({ threads: 2 });
const config = parseLlamaConfig({ vocabSize: 12, hidden: 16, layers: 2, heads: 2, kvHeads: 1, ffn: 32 });
const TARGET = 7;
const reward = (cs: Array<{ ids: Int32Array }>) =>
  cs.map((c) => c.ids.filter((t) => t === TARGET).length / c.ids.length);
const prompts = [Int32Array.from([1, 2]), Int32Array.from([3])];

for (const beta of [0, 0.04]) {
  test(`the policy learns the rewarded token (beta ${beta})`, async () => {
    const policy = initLlamaWeights(engine, config, 11);
    const reference = beta > 0 ? frozenCopy(engine, policy) : undefined;
    const optimizer = new AdamW(engine, trainableParameters(policy), { maxGradNorm: 1 });
    const generator = new LocalGenerator(engine, config, policy);
    const models = { engine, config, policy, reference, generator, optimizer };
    const history = [];
    for (let step = 0; step < 25; step++) {
      const m = await grpoStep(models, prompts, reward, {
        groupSize: 6,
        temperature: 1,
        maxTokens: 6,
        loss: { beta, lossType: "bnpo", epsLow: 0.2 },
        lr: 2e-2,
        seed: step,
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
