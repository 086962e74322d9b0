/** SFT learns completions, and only completion tokens count. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AdamW, Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import { initLlamaWeights, parseLlamaConfig, trainableParameters } from "../../src/model/llama.ts";
import { sftStep } from "../../src/sft/sft-step.ts";

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
    const r = await sftStep({ engine, config, weights, optimizer }, examples, { lr: 1e-2, chunkRows: 8 });
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
      { engine, config, weights, optimizer },
      [{ prompt: Int32Array.from([1]), completion: new Int32Array(0) }],
      { lr: 1e-3 },
    ),
    /example 0 has an empty/,
  );
});
