/** Model folders into engine tensors and back, for each architecture. */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Engine, type Tensor } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import { chunkedTokenLoss } from "../../src/model/chunked-loss.ts";
import { type ModelConfigInput, modelConfig } from "../../src/model/hf-config.ts";
import { trainableParameters } from "../../src/model/llama.ts";
import { loadModel, namedTensors, saveModel } from "../../src/model/load.ts";
import { addLora } from "../../src/model/lora.ts";
import { saveModelDir } from "../../src/model/model-dir.ts";
import { initRandomModel } from "../../src/model/model-dir-init.ts";

const engine = new Engine({ threads: 2 });
const root = await mkdtemp(join(tmpdir(), "reasonrl-load-"));
after(() => rm(root, { recursive: true, force: true }));

const base = { vocabSize: 50, hidden: 16, ffn: 24, layers: 2, heads: 4, kvHeads: 2 };
const configs: Array<[string, ModelConfigInput]> = [
  ["qwen2", { arch: "qwen2", ...base }],
  ["llama with attention_bias", { arch: "llama", ...base, attentionBias: true, tieEmbeddings: true }],
  ["qwen3", { arch: "qwen3", ...base, headDim: 8 }],
];

describe("loadModel and saveModel", () => {
  for (const [name, input] of configs) {
    test(`${name}: saved weights load unchanged, generate, and save back`, async () => {
      const hf = modelConfig(input);
      const tensors = initRandomModel(hf, 7);
      const dir = join(root, name.replace(/\W+/g, "-"));
      await saveModelDir(dir, hf, tensors);

      const m = await loadModel(engine, dir);
      assert.equal(m.config.attentionBias, hf.qkvBias);
      assert.equal(m.config.outputBias, hf.oBias);
      assert.equal(m.config.qkNorm, hf.qkNorm);
      for (const [tname, t] of namedTensors(hf, m.weights)) {
        assert.deepEqual(t.readF32(), tensors.get(tname)?.data, tname);
      }
      const [[c]] = await new LocalGenerator(engine, m.config, m.weights).generate(
        [Int32Array.from([1, 2, 3])],
        {
          temperature: 0,
          maxTokens: 4,
        },
      );
      assert.equal(c.ids.length, 4);

      const copy = join(root, `${name.replace(/\W+/g, "-")}-copy`);
      await saveModel(copy, hf, m.weights);
      const again = await loadModel(engine, copy, { trainable: true });
      for (const [tname, t] of namedTensors(hf, again.weights)) {
        assert.equal(t.kind, "param");
        assert.deepEqual(t.readF32(), tensors.get(tname)?.data, tname);
      }
    });
  }

  test("frozen matrices can be kept in bf16", async () => {
    const hf = modelConfig(configs[0][1]);
    const dir = join(root, "bf16");
    await saveModelDir(dir, hf, initRandomModel(hf, 8));
    const m = await loadModel(engine, dir, { dtype: "bf16" });
    assert.equal(m.weights.layers[0].wq.dtype, "bf16");
    assert.equal(m.weights.layers[0].attnNorm.dtype, "f32");
    const [[c]] = await new LocalGenerator(engine, m.config, m.weights).generate([Int32Array.from([4, 5])], {
      temperature: 0,
      maxTokens: 3,
    });
    assert.equal(c.ids.length, 3);
  });

  test("what the engine cannot run yet is named", async () => {
    const hf = modelConfig({
      arch: "llama",
      ...base,
      ropeScaling: { type: "linear", factor: 2 },
    } as ModelConfigInput);
    const dir = join(root, "scaled");
    await saveModelDir(dir, hf, initRandomModel(hf, 9));
    await assert.rejects(loadModel(engine, dir), /rope_scaling "linear" is not supported/);
  });

  test("dispose frees every tensor; use after dispose throws by name", async () => {
    const hf = modelConfig(configs[1][1]);
    const dir = join(root, "dispose");
    await saveModelDir(dir, hf, initRandomModel(hf, 10));
    const m = await loadModel(engine, dir);
    const tensors = namedTensors(hf, m.weights).map(([, t]) => t);
    const { weights } = m;
    m.dispose();
    assert.ok(m.disposed);
    assert.ok(tensors.every((t) => t.freed));
    assert.throws(() => m.weights, /model .*dispose: used after dispose\(\)/);
    assert.throws(() => weights.layers[0].wq.readF32(), /it was freed/);
    m.dispose(); // idempotent

    let held: typeof weights | undefined;
    {
      using scoped = await loadModel(engine, dir);
      held = scoped.weights;
    }
    assert.ok(held.embed.freed, "a `using` model is freed at the end of its block");
  });

  test("frozen matrices can be q8_0 (QLoRA-style): LoRA trains over them, close to the f32 base", async () => {
    const hf = modelConfig({
      arch: "qwen2",
      vocabSize: 64,
      hidden: 32,
      ffn: 64,
      layers: 2,
      heads: 4,
      kvHeads: 2,
    });
    const dir = join(root, "q8");
    await saveModelDir(dir, hf, initRandomModel(hf, 11));
    const losses: number[] = [];
    for (const dtype of ["f32", "q8_0"] as const) {
      using m = await loadModel(engine, dir, { dtype });
      assert.equal(m.weights.layers[0].wDown.dtype, dtype);
      assert.equal(m.weights.layers[0].bq?.dtype, "f32");
      const policy = addLora(engine, m.weights, { rank: 2 }, 5);
      const params = trainableParameters(policy);
      for (const p of params) p.write(Float32Array.from({ length: p.size }, (_, k) => Math.sin(k) * 0.1));
      const T = 6;
      const ids = engine.tensor([1, T], { dtype: "i32", data: [1, 5, 9, 13, 17, 21] });
      const positions = engine.tensor([T], { dtype: "i32", data: [0, 1, 2, 3, 4, 5] });
      const r = await chunkedTokenLoss(
        engine,
        m.config,
        policy,
        { ids, positions, targets: Int32Array.from([5, 9, 13, 17, 21, 25]) },
        (g, lp) => g.neg(g.sum(lp)),
      );
      losses.push(r.loss);
      assert.ok(
        params.every((p) => (p.grad as Tensor).readF32().some((v) => v !== 0)),
        "adapters get gradients",
      );
      for (const t of [ids, positions, ...params]) t.free();
    }
    assert.ok(
      Math.abs(losses[1] - losses[0]) < 0.01 * Math.abs(losses[0]),
      `q8_0 ${losses[1]} vs f32 ${losses[0]}`,
    );
  });

  test("q8_0 needs rows in blocks of 32; the tensor is named", async () => {
    const hf = modelConfig(configs[0][1]); // hidden 16
    const dir = join(root, "q8-bad");
    await saveModelDir(dir, hf, initRandomModel(hf, 12));
    await assert.rejects(
      loadModel(engine, dir, { dtype: "q8_0" }),
      /model\.embed_tokens\.weight: q8_0 stores rows in blocks of 32/,
    );
  });
});
