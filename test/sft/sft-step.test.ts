/** SFT learns completions, only completion tokens count, and micro-batches change nothing. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AdamW, Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import { initLlamaWeights, parseLlamaConfig, trainableParameters } from "../../src/model/llama.ts";
import { SftStepOptions, sftStep } from "../../src/sft/sft-step.ts";

const engine = new Engine({ threads: 2 });

test("SFT teaches a fixed completion and the loss falls", async () => {
  const config = parseLlamaConfig({ vocabSize: 16, hidden: 16, layers: 2, heads: 2, kvHeads: 2, ffn: 32 });
  const weights = initLlamaWeights(engine, config, 5);
  const optimizer = new AdamW(engine, trainableParameters(weights), { maxGradNorm: 1 });
  // prompts of varying content and length, each answered by its reversal
  const examples = [
    [1, 2, 3],
    [4, 5],
    [6, 7, 8, 9],
    [2, 9],
  ].map((p) => ({
    prompt: Int32Array.from([...p, 15]),
    completion: Int32Array.from([...p].reverse()),
  }));
  const losses: number[] = [];
  for (let step = 0; step < 60; step++) {
    const r = await sftStep({ engine, config, policy: weights, optimizer }, examples, {
      lr: 1e-2,
      chunkRows: 8,
    });
    assert.equal(r.tokens, 11);
    losses.push(r.loss);
  }
  assert.ok(losses[59] < losses[0] / 10, `loss ${losses[0]} -> ${losses[59]}`);
  const gen = new LocalGenerator(engine, config, weights);
  const out = await gen.generate(
    examples.map((e) => e.prompt),
    { temperature: 0, maxTokens: 4 },
  );
  for (const [i, e] of examples.entries()) {
    assert.deepEqual(
      Array.from(out[i][0].ids.slice(0, e.completion.length)),
      Array.from(e.completion),
      `example ${i}`,
    );
  }
  optimizer.free();
});

test("empty examples are refused by index", async () => {
  const config = parseLlamaConfig({ vocabSize: 8, hidden: 8, layers: 1, heads: 2, kvHeads: 2, ffn: 8 });
  const weights = initLlamaWeights(engine, config, 1);
  const optimizer = new AdamW(engine, trainableParameters(weights));
  await assert.rejects(
    sftStep(
      { engine, config, policy: weights, optimizer },
      [{ prompt: Int32Array.from([1]), completion: new Int32Array(0) }],
      { lr: 1e-3 },
    ),
    /example 0 has an empty/,
  );
});

describe("micro-batches", () => {
  const config = parseLlamaConfig({ vocabSize: 16, hidden: 16, layers: 2, heads: 2, kvHeads: 2, ffn: 32 });
  // Different prompt and completion lengths, so micro-batches pad differently and hold different token counts.
  const examples = [
    [[1, 2, 3], [4]],
    [[5], [6, 7, 8, 9]],
    [
      [2, 9, 4, 4],
      [3, 3],
    ],
    [
      [7, 1],
      [12, 13, 14],
    ],
    [[11], [10]],
  ].map(([p, c]) => ({ prompt: Int32Array.from(p), completion: Int32Array.from(c) }));
  const flat = (weights: ReturnType<typeof initLlamaWeights>) =>
    Float64Array.from(trainableParameters(weights).flatMap((t) => Array.from(t.readF32())));
  const initial = flat(initLlamaWeights(engine, config, 3));

  /** One step from fresh weights; eps = 1 makes AdamW's first update ~ lr * gradient (no clipping). */
  async function step(microBatch?: number) {
    const weights = initLlamaWeights(engine, config, 3);
    const optimizer = new AdamW(engine, trainableParameters(weights), { eps: 1 });
    const r = await sftStep({ engine, config, policy: weights, optimizer }, examples, {
      lr: 0.5,
      chunkRows: 8,
      microBatch,
    });
    assert.equal(optimizer.stepCount, 1);
    optimizer.free();
    return { r, delta: flat(weights).map((w, i) => w - initial[i]) };
  }

  test("microBatch 1, 2, 3 and all give the same update, loss and gradient norm", async () => {
    const all = await step();
    assert.equal(all.r.tokens, 11);
    for (const microBatch of [1, 2, 3]) {
      const micro = await step(microBatch);
      let diff = 0;
      let norm = 0;
      for (const [i, d] of all.delta.entries()) {
        diff += (micro.delta[i] - d) ** 2;
        norm += d ** 2;
      }
      assert.ok(
        norm > 0 && Math.sqrt(diff / norm) < 1e-5,
        `microBatch ${microBatch}: ${Math.sqrt(diff / norm)}`,
      );
      assert.ok(
        Math.abs(micro.r.loss - all.r.loss) < 1e-5 * all.r.loss,
        `loss ${micro.r.loss} vs ${all.r.loss}`,
      );
      const gn = Math.abs(micro.r.grad_norm - all.r.grad_norm);
      assert.ok(gn < 1e-5 * all.r.grad_norm, `grad_norm ${micro.r.grad_norm} vs ${all.r.grad_norm}`);
      assert.equal(micro.r.tokens, all.r.tokens);
    }
  });

  test("an invalid microBatch is refused", async () => {
    for (const microBatch of [0, -1, 2.5]) {
      assert.equal(SftStepOptions.safeParse({ lr: 1e-3, microBatch }).success, false, `${microBatch}`);
      await assert.rejects(step(microBatch), /microBatch/);
    }
  });
});
