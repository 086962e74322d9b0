/** LoRA adapters: start equal to the base, train only themselves, merge, and round-trip in PEFT's layout. */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { AdamW, Engine } from "../../src/engine/index.ts";
import {
  frozenCopy,
  initLlamaWeights,
  type LlamaWeights,
  llamaParameters,
  logits,
  parseLlamaConfig,
  trainableParameters,
  weightedNllLoss,
} from "../../src/model/llama.ts";
import { addLora, loadLora, mergeLora, saveLora } from "../../src/model/lora.ts";
import { seededRandom } from "../../src/model/random.ts";

const engine = new Engine({ threads: 2 });
const root = await mkdtemp(join(tmpdir(), "reasonrl-lora-"));
after(() => rm(root, { recursive: true, force: true }));

const config = parseLlamaConfig({
  vocabSize: 30,
  hidden: 16,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  ffn: 24,
  attentionBias: true,
});
const ids = engine.tensor([1, 6], { dtype: "i32", data: [3, 1, 4, 1, 5, 9] });
const pos = engine.tensor([6], { dtype: "i32", data: [0, 1, 2, 3, 4, 5] });
const targets = Int32Array.from([1, 4, 1, 5, 9, 2]);

async function logitsOf(w: LlamaWeights): Promise<Float32Array> {
  const g = engine.graph();
  g.build({ outputs: [logits(g, config, w, ids, pos)] });
  const [v] = await g.compute();
  g.free();
  return v as Float32Array;
}

test("adapters start as the identity, train alone, and merge into the base", async () => {
  const base = frozenCopy(engine, initLlamaWeights(engine, config, 4));
  const before = await logitsOf(base);
  const adapted = addLora(engine, base, { rank: 4, alpha: 8, targets: ["q", "v", "o", "up", "down"] }, 1);
  assert.deepEqual(await logitsOf(adapted), before, "B = 0 at init");
  const trainable = trainableParameters(adapted);
  assert.equal(trainable.length, 2 * 5 * config.layers);
  assert.ok(trainable.every((t) => /lora_[AB]$/.test(t.name)));

  const baseValues = llamaParameters(base).map((t) => t.readF32());
  const g = engine.graph();
  const w = engine.tensor([6], { data: new Float32Array(6).fill(1 / 6) });
  g.build({ loss: weightedNllLoss(g, config, adapted, ids, pos, targets, w).loss, backward: true });
  const opt = new AdamW(engine, trainable, { lr: 0.05 });
  for (let i = 0; i < 5; i++) {
    await g.compute();
    await opt.step();
  }
  g.free();
  const trained = await logitsOf(adapted);
  assert.notDeepEqual(trained, before, "training moved the adapted model");
  for (const [i, t] of llamaParameters(base).entries())
    assert.deepEqual(t.readF32(), baseValues[i], `${t.name} frozen`);

  const merged = mergeLora(adapted);
  const after = await logitsOf(merged);
  for (let i = 0; i < after.length; i++)
    assert.ok(Math.abs(after[i] - trained[i]) < 1e-4, `logit ${i}: ${after[i]} vs ${trained[i]}`);
});

test("save and load in PEFT's layout", async () => {
  const base = frozenCopy(engine, initLlamaWeights(engine, config, 4));
  const adapted = addLora(engine, base, { rank: 2, alpha: 4, targets: ["k", "gate"] }, 2);
  const rand = seededRandom(3);
  for (const t of trainableParameters(adapted))
    t.write(Float32Array.from({ length: t.size }, () => rand() - 0.5));
  const dir = join(root, "adapter");
  await rm(dir, { recursive: true, force: true });
  await import("node:fs/promises").then((fs) => fs.mkdir(dir, { recursive: true }));
  await saveLora(dir, adapted, { rank: 2, alpha: 4, targets: ["k", "gate"] }, "tiny-base");
  const cfg = JSON.parse(await readFile(join(dir, "adapter_config.json"), "utf8"));
  assert.deepEqual(cfg.target_modules, ["k_proj", "gate_proj"]);
  assert.equal(cfg.r, 2);
  assert.equal(cfg.lora_alpha, 4);
  const loaded = await loadLora(engine, dir, frozenCopy(engine, initLlamaWeights(engine, config, 4)));
  assert.deepEqual(await logitsOf(loaded.weights), await logitsOf(adapted));
});
