/** Model folders into engine tensors and back, for each architecture. */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import { type ModelConfigInput, modelConfig } from "../../src/model/hf-config.ts";
import { loadModel, namedTensors, saveModel } from "../../src/model/load.ts";
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
});
