/** Cached, batched generation against the plain forward pass, sampling and stop rules. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import { promptSeed, sampleToken } from "../../src/generate/sampling.ts";
import { logits } from "../../src/model/llama.ts";
import { seededRandom } from "../../src/model/random.ts";
import { tinyRandomModel } from "./tiny-model.ts";

const engine = new Engine({ threads: 2 });

const tinyModel = (extra: object, seed: number) => tinyRandomModel(engine, extra, seed);

/** Log-softmax rows of the full (uncached) forward pass over `tokens`. */
async function fullLogProbs(m: ReturnType<typeof tinyModel>, tokens: number[]): Promise<Float32Array[]> {
  const T = tokens.length;
  const ids = engine.tensor([1, T], { dtype: "i32", data: tokens });
  const pos = engine.tensor([T], { dtype: "i32", data: Int32Array.from({ length: T }, (_, i) => i) });
  const g = engine.graph();
  const out = g.logSoftmax(g.reshape(logits(g, m.config, m.weights, ids, pos), [T, m.config.vocabSize]));
  g.build({ outputs: [out] });
  const [values] = await g.compute();
  g.free();
  const V = m.config.vocabSize;
  return Array.from({ length: T }, (_, t) => (values as Float32Array).slice(t * V, (t + 1) * V));
}

const argmax = (row: Float32Array) => row.indexOf(Math.max(...row));

describe("local generation", () => {
  for (const [name, extra] of [
    ["Llama", {}],
    ["Qwen2", { attentionBias: true }],
    ["Qwen3", { qkNorm: true, headDim: 8 }],
  ] as const) {
    test(`${name}: greedy decoding with the cache matches the full forward pass`, async () => {
      const m = tinyModel(extra, 3);
      const gen = new LocalGenerator(engine, m.config, m.weights);
      const prompt = [5, 9, 1, 30, 2];
      const [[c]] = await gen.generate([Int32Array.from(prompt)], { temperature: 0, maxTokens: 10 });
      assert.equal(c.ids.length, 10);
      assert.equal(c.finishReason, "length");
      const rows = await fullLogProbs(m, [...prompt, ...c.ids]);
      for (let i = 0; i < 10; i++) {
        const row = rows[prompt.length - 1 + i];
        assert.equal(c.ids[i], argmax(row), `token ${i}`);
        assert.ok(
          Math.abs(c.logprobs[i] - row[c.ids[i]]) < 1e-4,
          `logprob ${i}: ${c.logprobs[i]} vs ${row[c.ids[i]]}`,
        );
      }
    });
  }

  test("a batch of prompts of different lengths decodes as each prompt alone", async () => {
    const m = tinyModel({ attentionBias: true }, 4);
    const prompts = [[1, 2, 3], [7], [4, 4, 4, 4, 4, 4, 8], [20, 21]].map((p) => Int32Array.from(p));
    const batched = await new LocalGenerator(engine, m.config, m.weights, { maxBatch: 3 }).generate(prompts, {
      temperature: 0,
      maxTokens: 6,
    });
    for (const [i, p] of prompts.entries()) {
      const [[alone]] = await new LocalGenerator(engine, m.config, m.weights).generate([p], {
        temperature: 0,
        maxTokens: 6,
      });
      assert.deepEqual(Array.from(batched[i][0].ids), Array.from(alone.ids), `prompt ${i}`);
    }
  });

  test("seeded sampling is reproducible, per sequence, whatever the batch", async () => {
    const m = tinyModel({}, 5);
    const gen = new LocalGenerator(engine, m.config, m.weights, { maxBatch: 4 });
    const p = [Int32Array.from([3, 1, 4]), Int32Array.from([1, 5])];
    const opts = { temperature: 1, topP: 0.95, n: 3, maxTokens: 8, seed: 42 };
    const a = await gen.generate(p, opts);
    const b = await new LocalGenerator(engine, m.config, m.weights, { maxBatch: 1 }).generate(p, opts);
    assert.deepEqual(
      a.map((r) => r.map((c) => Array.from(c.ids))),
      b.map((r) => r.map((c) => Array.from(c.ids))),
    );
    const samples = new Set(a[0].map((c) => c.ids.join(",")));
    assert.ok(samples.size > 1, "the 3 samples of a prompt differ");
    const other = await gen.generate(p, { ...opts, seed: 43 });
    assert.notDeepEqual(
      other.map((r) => r.map((c) => Array.from(c.ids))),
      a.map((r) => r.map((c) => Array.from(c.ids))),
    );
  });

  test("seeds are per prompt: prompt i alone with seed promptSeed(seed, i) gives its samples in a batch", async () => {
    const m = tinyModel({}, 5);
    const gen = new LocalGenerator(engine, m.config, m.weights, { maxBatch: 4 });
    const p = [Int32Array.from([3, 1, 4]), Int32Array.from([1, 5]), Int32Array.from([3, 1, 4])];
    const opts = { temperature: 1, n: 3, maxTokens: 8, seed: 42 };
    const ids = (r: { ids: Int32Array }[]) => r.map((c) => Array.from(c.ids));
    const batch = await gen.generate(p, opts);
    for (const [i, prompt] of p.entries()) {
      const [alone] = await gen.generate([prompt], { ...opts, seed: promptSeed(opts.seed, i) });
      assert.deepEqual(ids(alone), ids(batch[i]), `prompt ${i}`);
      // the same tokens; log-probs within float noise (a batch of other sizes sums in another order)
      alone.forEach((c, j) => {
        for (const [t, x] of c.logprobs.entries()) assert.ok(Math.abs(x - batch[i][j].logprobs[t]) < 1e-5);
      });
    }
    // prompts 0 and 2 are the same tokens, yet draw other samples: their seeds differ
    assert.notDeepEqual(ids(batch[2]), ids(batch[0]));
  });

  test("EOS ends a completion with finish reason stop", async () => {
    const m = tinyModel({}, 6);
    const gen = new LocalGenerator(engine, m.config, m.weights);
    const [[free]] = await gen.generate([Int32Array.from([2, 3])], { temperature: 0, maxTokens: 8 });
    const eos = free.ids[3];
    const [[c]] = await new LocalGenerator(engine, m.config, m.weights, { eosIds: [eos] }).generate(
      [Int32Array.from([2, 3])],
      { temperature: 0, maxTokens: 8 },
    );
    assert.equal(c.finishReason, "stop");
    assert.equal(c.ids[c.ids.length - 1], eos);
    assert.ok(c.ids.length <= 4);
  });

  test("bad prompts are refused with the prompt named", async () => {
    const m = tinyModel({}, 7);
    const gen = new LocalGenerator(engine, m.config, m.weights);
    await assert.rejects(
      gen.generate([Int32Array.from([1]), Int32Array.from([99])]),
      /prompt 1 holds token 99/,
    );
    await assert.rejects(gen.generate([new Int32Array(0)]), /prompt 0 is empty/);
  });
});

describe("sampling", () => {
  const logits = Float32Array.from([1, 3, 2, 0.5, 2.9]);
  /** softmax(logits / t), what the decode graph hands to sampleToken. */
  const probsAt = (t: number) => {
    const e = Array.from(logits, (x) => Math.exp(x / t));
    const z = e.reduce((a, b) => a + b, 0);
    return Float32Array.from(e, (v) => v / z);
  };
  test("temperature 0 and top-k 1 are greedy", () => {
    const r = seededRandom(1);
    assert.equal(sampleToken(probsAt(1), { temperature: 0, topP: 1, topK: 0, minP: 0 }, r).token, 1);
    for (let i = 0; i < 20; i++)
      assert.equal(sampleToken(probsAt(1), { temperature: 1, topP: 1, topK: 1, minP: 0 }, r).token, 1);
  });
  test("top-p and min-p restrict the candidates", () => {
    // probabilities: [0.054, 0.402, 0.148, 0.033, 0.363]
    const r = seededRandom(2);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++)
      seen.add(sampleToken(probsAt(1), { temperature: 1, topP: 0.6, topK: 0, minP: 0 }, r).token);
    assert.deepEqual([...seen].sort(), [1, 4]);
    seen.clear();
    for (let i = 0; i < 200; i++)
      seen.add(sampleToken(probsAt(1), { temperature: 1, topP: 1, topK: 0, minP: 0.3 }, r).token);
    assert.deepEqual([...seen].sort(), [1, 2, 4]);
  });
  test("frequencies follow the temperature-scaled softmax, and logprobs are its logs", () => {
    const r = seededRandom(3);
    const counts = new Array(5).fill(0);
    let lp = 0;
    for (let i = 0; i < 4000; i++) {
      const s = sampleToken(probsAt(0.7), { temperature: 0.7, topP: 1, topK: 0, minP: 0 }, r);
      counts[s.token]++;
      if (s.token === 2) lp = s.logprob;
    }
    const z = Array.from(logits, (x) => Math.exp(x / 0.7)).reduce((a, b) => a + b, 0);
    const expected = Array.from(logits, (x) => Math.exp(x / 0.7) / z);
    for (const [t, c] of counts.entries()) {
      assert.ok(Math.abs(c / 4000 - expected[t]) < 0.03, `token ${t}: ${c / 4000} vs ${expected[t]}`);
    }
    assert.ok(Math.abs(lp - Math.log(expected[2])) < 1e-6);
  });
});
