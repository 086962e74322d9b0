/**
 * The chunked per-token loss gives the same loss, log-probs and gradients as
 * the direct one: with the trunk as one graph and checkpointed per layer
 * (attention over query chunks), for full fine-tuning and LoRA over a frozen
 * base, with tied embeddings and with Qwen2's q/k/v biases.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine, type Tensor } from "../../src/engine/index.ts";
import { type ChunkedLossOptions, chunkedTokenLoss, tokenLogProbs } from "../../src/model/chunked-loss.ts";
import {
  frozenCopy,
  initLlamaWeights,
  type LlamaConfig,
  type LlamaWeights,
  logits as llamaLogits,
  llamaParameters,
  parseLlamaConfig,
  trainableParameters,
  weightedNllLoss,
} from "../../src/model/llama.ts";
import { addLora } from "../../src/model/lora.ts";
import { seededRandom } from "../../src/model/random.ts";

const engine = new Engine({ threads: 2 });

interface Case {
  tie: boolean;
  bias: boolean;
  lora: boolean;
  options: ChunkedLossOptions;
}

const cases: Case[] = [
  { tie: false, bias: false, lora: false, options: { chunkRows: 3, checkpoint: false } },
  { tie: true, bias: false, lora: false, options: { chunkRows: 3, checkpoint: false } },
  { tie: false, bias: false, lora: false, options: { chunkRows: 3, checkpoint: true } },
  { tie: true, bias: false, lora: false, options: { chunkRows: 4, queryChunk: 2, checkpoint: true } },
  { tie: false, bias: true, lora: false, options: { chunkRows: 5, queryChunk: 3, checkpoint: true } },
  { tie: false, bias: true, lora: true, options: { chunkRows: 3, queryChunk: 2, checkpoint: true } },
  { tie: true, bias: false, lora: true, options: { chunkRows: 7, queryChunk: 4, checkpoint: true } },
];

/** A small model with random values everywhere (LoRA B included, so every gradient is non-zero). */
function model(c: Case) {
  const config = parseLlamaConfig({
    vocabSize: 40,
    hidden: 16,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    ffn: 24,
    tieEmbeddings: c.tie,
    attentionBias: c.bias,
  });
  const rand = seededRandom(9);
  const randomise = (w: LlamaWeights) => {
    for (const p of llamaParameters(w)) {
      if (p.shape.length === 2 || c.bias) p.write(Float32Array.from({ length: p.size }, () => rand() - 0.5));
    }
  };
  let weights = initLlamaWeights(engine, config, 2);
  randomise(weights);
  if (c.lora) {
    const base = frozenCopy(engine, weights);
    for (const p of llamaParameters(weights)) p.free();
    weights = addLora(engine, base, { rank: 2, alpha: 4 }, 3);
    for (const p of trainableParameters(weights)) {
      p.write(Float32Array.from({ length: p.size }, () => rand() - 0.5));
    }
  }
  return { config, weights, rand };
}

function assertClose(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let j = 0; j < got.length; j++) {
    const diff = Math.abs(got[j] - want[j]);
    assert.ok(diff <= 1e-5 + 1e-3 * Math.abs(want[j]), `${what}[${j}]: ${got[j]} vs ${want[j]}`);
  }
}

for (const c of cases) {
  const label = `tied ${c.tie}, biases ${c.bias}, LoRA ${c.lora}, ${JSON.stringify(c.options)}`;
  test(`chunked loss equals the direct loss (${label})`, async () => {
    const { config, weights, rand } = model(c);
    const params = trainableParameters(weights);
    const [B, T] = [2, 7];
    const ids = engine.tensor([B, T], {
      dtype: "i32",
      data: Int32Array.from({ length: B * T }, () => Math.floor(rand() * 40)),
    });
    const positions = engine.tensor([T], { dtype: "i32", data: Int32Array.from({ length: T }, (_, i) => i) });
    const targets = Int32Array.from({ length: B * T }, () => Math.floor(rand() * 40));
    const tokenWeights = Float32Array.from({ length: B * T }, () => rand() - 0.3);

    // direct: one graph with all logits
    engine.zeroGrads(params);
    const g = engine.graph();
    const direct = weightedNllLoss(
      g,
      config,
      weights,
      ids,
      positions,
      targets,
      engine.tensor([B * T], { data: tokenWeights }),
    );
    g.build({ loss: direct.loss, outputs: [direct.loss, direct.logProbs], backward: true });
    const [[loss], lp] = await g.compute();
    g.free();
    const grads = params.map((p) => (p.grad as Tensor).readF32());
    assert.ok(
      grads.every((gr) => gr.some((v) => v !== 0)),
      "every trainable tensor has a gradient",
    );

    // chunked
    engine.zeroGrads(params);
    const chunkWeights: Tensor[] = [];
    const r = await chunkedTokenLoss(
      engine,
      config,
      weights,
      { ids, positions, targets },
      (cg, logProbs, start) => {
        const w = engine.tensor([logProbs.size], {
          data: tokenWeights.subarray(start, start + logProbs.size),
        });
        chunkWeights.push(w);
        return cg.neg(cg.sum(cg.mul(logProbs, w)));
      },
      { ...c.options, entropy: true },
    );
    assert.equal(r.entropy?.length, B * T);
    assert.ok(
      r.entropy?.every((h) => h > 0 && h <= Math.log(40) + 1e-5),
      "entropies within (0, log V]",
    );
    assert.ok(Math.abs(r.loss - loss) < 1e-5, `loss ${r.loss} vs ${loss}`);
    assertClose(r.logProbs, lp as Float32Array, "log-prob");
    for (const [i, p] of params.entries()) assertClose((p.grad as Tensor).readF32(), grads[i], p.name);

    // the log-probs alone, without gradients
    const scored = await tokenLogProbs(engine, config, weights, { ids, positions, targets }, c.options);
    assertClose(scored, lp as Float32Array, "scored log-prob");
    for (const w of chunkWeights) w.free();
  });
}

/** A batch of random ids, targets and token weights for model(c). */
function randomBatch(rand: () => number, B: number, T: number) {
  return {
    ids: engine.tensor([B, T], {
      dtype: "i32",
      data: Int32Array.from({ length: B * T }, () => Math.floor(rand() * 40)),
    }),
    positions: engine.tensor([T], { dtype: "i32", data: Int32Array.from({ length: T }, (_, i) => i) }),
    targets: Int32Array.from({ length: B * T }, () => Math.floor(rand() * 40)),
    tokenWeights: Float32Array.from({ length: B * T }, () => rand() - 0.3),
  };
}

/** The chunked loss -sum(w * lp) with `options`: loss, log-probs, entropies and every gradient. */
async function chunkedRun(
  c: Case,
  config: LlamaConfig,
  b: ReturnType<typeof randomBatch>,
  weights: LlamaWeights,
  options: ChunkedLossOptions,
) {
  const params = trainableParameters(weights);
  engine.zeroGrads(params);
  const made: Tensor[] = [];
  const r = await chunkedTokenLoss(
    engine,
    config,
    weights,
    b,
    (cg, logProbs, start) => {
      const w = engine.tensor([logProbs.size], {
        data: b.tokenWeights.subarray(start, start + logProbs.size),
      });
      made.push(w);
      return cg.neg(cg.sum(cg.mul(logProbs, w)));
    },
    { ...c.options, ...options, entropy: true },
  );
  for (const w of made) w.free();
  return { ...r, grads: params.map((p) => (p.grad as Tensor).readF32()) };
}

for (const c of [cases[0], cases[5]]) {
  test(`temperature: 1 is bit-identical to no temperature; 0.7 is softmax(logits / 0.7) (LoRA ${c.lora}, ${JSON.stringify(c.options)})`, async () => {
    const { config, weights, rand } = model(c);
    const b = randomBatch(rand, 2, 6);

    const plain = await chunkedRun(c, config, b, weights, {});
    const one = await chunkedRun(c, config, b, weights, { temperature: 1 });
    assert.equal(one.loss, plain.loss);
    assert.deepEqual(one.logProbs, plain.logProbs);
    assert.deepEqual(one.entropy, plain.entropy);
    assert.deepEqual(one.grads, plain.grads);

    // direct: all logits in one graph, divided by 0.7, then log-softmax
    const params = trainableParameters(weights);
    engine.zeroGrads(params);
    const g = engine.graph();
    const [B, T] = b.ids.shape;
    const flat = g.reshape(llamaLogits(g, config, weights, b.ids, b.positions), [B * T, config.vocabSize]);
    const lp = g.logProbsOf(g.scale(flat, 1 / 0.7), b.targets);
    const w = engine.tensor([B * T], { data: b.tokenWeights });
    const loss = g.neg(g.sum(g.mul(lp, w)));
    g.build({ loss, outputs: [loss, lp], backward: true });
    const [[directLoss], directLp] = await g.compute();
    g.free();
    const directGrads = params.map((p) => (p.grad as Tensor).readF32());

    const hot = await chunkedRun(c, config, b, weights, { temperature: 0.7 });
    assert.ok(Math.abs(hot.loss - directLoss) < 1e-5, `loss ${hot.loss} vs ${directLoss}`);
    assertClose(hot.logProbs, directLp as Float32Array, "log-prob at 0.7");
    for (const [i, p] of params.entries()) assertClose(hot.grads[i], directGrads[i], `${p.name} at 0.7`);
    assert.ok(
      hot.logProbs.some((v, i) => Math.abs(v - plain.logProbs[i]) > 1e-3),
      "0.7 changes the log-probs",
    );
    const scored = await tokenLogProbs(engine, config, weights, b, { ...c.options, temperature: 0.7 });
    assertClose(scored, directLp as Float32Array, "scored log-prob at 0.7");
    await assert.rejects(tokenLogProbs(engine, config, weights, b, { temperature: 0 }), /temperature/);
    w.free();
  });
}
