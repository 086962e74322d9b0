/** The chunked per-token loss gives the same loss, log-probs and gradients as the direct one. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine, type Tensor } from "../../src/engine/index.ts";
import { chunkedTokenLoss } from "../../src/model/chunked-loss.ts";
import {
  initLlamaWeights,
  llamaParameters,
  parseLlamaConfig,
  weightedNllLoss,
} from "../../src/model/llama.ts";
import { seededRandom } from "../../src/model/random.ts";

const engine = new Engine({ threads: 2 });

for (const tie of [false, true]) {
  test(`chunked loss equals the direct loss (tied embeddings: ${tie})`, async () => {
    const config = parseLlamaConfig({
      vocabSize: 40,
      hidden: 16,
      layers: 2,
      heads: 4,
      kvHeads: 2,
      ffn: 24,
      tieEmbeddings: tie,
    });
    const weights = initLlamaWeights(engine, config, 2);
    const rand = seededRandom(9);
    for (const p of llamaParameters(weights)) {
      if (p.shape.length === 2) p.write(Float32Array.from({ length: p.size }, () => rand() - 0.5));
    }
    const params = llamaParameters(weights);
    const [B, T] = [2, 5];
    const ids = engine.tensor([B, T], {
      dtype: "i32",
      data: Int32Array.from({ length: B * T }, () => Math.floor(rand() * 40)),
    });
    const positions = engine.tensor([T], { dtype: "i32", data: [0, 1, 2, 3, 4] });
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

    // chunked: 3 rows at a time
    engine.zeroGrads(params);
    const chunkWeights = new Map<number, Tensor>();
    const r = await chunkedTokenLoss(
      engine,
      config,
      weights,
      { ids, positions, targets },
      (cg, logProbs, start) => {
        const w = engine.tensor([logProbs.size], {
          data: tokenWeights.subarray(start, start + logProbs.size),
        });
        chunkWeights.set(start, w);
        return cg.neg(cg.sum(cg.mul(logProbs, w)));
      },
      { chunkRows: 3, entropy: true },
    );
    assert.equal(r.entropy?.length, B * T);
    assert.ok(
      r.entropy?.every((h) => h > 0 && h <= Math.log(40) + 1e-5),
      "entropies within (0, log V]",
    );
    assert.ok(Math.abs(r.loss - loss) < 1e-5, `loss ${r.loss} vs ${loss}`);
    for (let i = 0; i < lp.length; i++) assert.ok(Math.abs(r.logProbs[i] - lp[i]) < 1e-5, `log-prob ${i}`);
    for (const [i, p] of params.entries()) {
      const got = (p.grad as Tensor).readF32();
      for (let j = 0; j < got.length; j++) {
        const diff = Math.abs(got[j] - grads[i][j]);
        assert.ok(
          diff <= 1e-5 + 1e-3 * Math.abs(grads[i][j]),
          `${p.name}[${j}]: ${got[j]} vs ${grads[i][j]}`,
        );
      }
    }
    for (const w of chunkWeights.values()) w.free();
  });
}
