import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type ModelConfig, modelConfig, readHfConfig } from "../../src/model/hf-config.ts";
import {
  checkModelDir,
  expectedTensors,
  isModelDir,
  type ModelTensor,
  openModelDir,
  saveModelDir,
  tokenizerFilesIn,
} from "../../src/model/model-dir.ts";
import { initRandomModel } from "../../src/model/model-dir-init.ts";
import { gaussian } from "../../src/model/random.ts";
import { bf16ToF32, f32ToBf16 } from "../../src/model/safetensors-dtype.ts";
import { INDEX_FILE } from "../../src/model/safetensors-sharded.ts";
import { type TensorToWrite, writeSafetensors } from "../../src/model/safetensors-write.ts";

const tiny = {
  qwen2: modelConfig({
    arch: "qwen2",
    vocabSize: 64,
    hidden: 32,
    ffn: 48,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    eosTokenIds: [3],
    bosTokenId: 1,
  }),
  llama: modelConfig({
    arch: "llama",
    vocabSize: 64,
    hidden: 32,
    ffn: 48,
    layers: 2,
    heads: 4,
    kvHeads: 1,
    tieEmbeddings: true,
    attentionBias: true,
    ropeTheta: 500000,
    ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 },
  }),
  qwen3: modelConfig({
    arch: "qwen3",
    vocabSize: 64,
    hidden: 32,
    ffn: 48,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    tieEmbeddings: true,
  }),
};

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "reasonrl-dir-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("expected tensors", () => {
  it("names and shapes each architecture's tensors", () => {
    const names = (c: ModelConfig) => expectedTensors(c).map((t) => t.name);
    const layer0 = (c: ModelConfig) =>
      expectedTensors(c)
        .filter((t) => t.name.startsWith("model.layers.0."))
        .map((t) => `${t.name.slice(15)} [${t.shape}]`);
    assert.deepEqual(layer0(tiny.qwen2), [
      "input_layernorm.weight [32]",
      "self_attn.q_proj.weight [32,32]",
      "self_attn.q_proj.bias [32]",
      "self_attn.k_proj.weight [16,32]",
      "self_attn.k_proj.bias [16]",
      "self_attn.v_proj.weight [16,32]",
      "self_attn.v_proj.bias [16]",
      "self_attn.o_proj.weight [32,32]",
      "post_attention_layernorm.weight [32]",
      "mlp.gate_proj.weight [48,32]",
      "mlp.up_proj.weight [48,32]",
      "mlp.down_proj.weight [32,48]",
    ]);
    assert.deepEqual(layer0(tiny.qwen3), [
      "input_layernorm.weight [32]",
      "self_attn.q_proj.weight [64,32]",
      "self_attn.k_proj.weight [32,32]",
      "self_attn.v_proj.weight [32,32]",
      "self_attn.o_proj.weight [32,64]",
      "self_attn.q_norm.weight [16]",
      "self_attn.k_norm.weight [16]",
      "post_attention_layernorm.weight [32]",
      "mlp.gate_proj.weight [48,32]",
      "mlp.up_proj.weight [48,32]",
      "mlp.down_proj.weight [32,48]",
    ]);
    assert.ok(layer0(tiny.llama).includes("self_attn.o_proj.bias [32]"));
    assert.ok(layer0(tiny.llama).includes("self_attn.k_proj.bias [8]"));
    assert.deepEqual(names(tiny.qwen2).slice(0, 1), ["model.embed_tokens.weight"]);
    assert.deepEqual(names(tiny.qwen2).slice(-2), ["model.norm.weight", "lm_head.weight"]);
    assert.deepEqual(names(tiny.qwen3).slice(-1), ["model.norm.weight"]);
    assert.ok(names(tiny.qwen3).includes("model.layers.1.self_attn.k_norm.weight"));
  });
});

describe("random initialisation", () => {
  it("draws N(0, 0.02) linear weights, ones for norms, zeros for biases, reproducibly", () => {
    const a = initRandomModel(tiny.qwen2, 7);
    const b = initRandomModel(tiny.qwen2, 7);
    const c = initRandomModel(tiny.qwen2, 8);
    assert.deepEqual(
      [...a.keys()],
      expectedTensors(tiny.qwen2).map((t) => t.name),
    );
    for (const [name, t] of a) {
      assert.equal(t.dtype, "F32");
      assert.deepEqual(t.data, b.get(name)?.data, name);
    }
    const embed = a.get("model.embed_tokens.weight") as ModelTensor;
    assert.notDeepEqual(embed.data, c.get("model.embed_tokens.weight")?.data);
    assert.ok((a.get("model.layers.1.input_layernorm.weight") as ModelTensor).data.every((x) => x === 1));
    assert.ok((a.get("model.layers.0.self_attn.q_proj.bias") as ModelTensor).data.every((x) => x === 0));
    // all linear weights together: mean ~0, std ~0.02
    const values = [...a.values()].filter((t) => t.shape.length === 2).flatMap((t) => [...t.data]);
    const mean = values.reduce((s, x) => s + x, 0) / values.length;
    const std = Math.sqrt(values.reduce((s, x) => s + (x - mean) ** 2, 0) / values.length);
    assert.ok(values.length > 10000);
    assert.ok(Math.abs(mean) < 0.001, `mean ${mean}`);
    assert.ok(Math.abs(std - 0.02) < 0.001, `std ${std}`);
  });

  it("gaussian() gives standard normals", () => {
    const g = gaussian(123);
    const xs = Array.from({ length: 20000 }, g);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
    assert.ok(Math.abs(mean) < 0.05 && Math.abs(variance - 1) < 0.05, `${mean} ${variance}`);
    assert.ok(xs.filter((x) => Math.abs(x) > 2).length / xs.length < 0.06); // 4.55% expected
  });
});

describe("saving, checking and reloading model folders", () => {
  for (const arch of ["qwen2", "llama", "qwen3"] as const) {
    it(`saves, checks and reloads a tiny ${arch} model`, async () => {
      const config = tiny[arch];
      const tensors = initRandomModel(config, 1);
      const dir = join(root, `tiny-${arch}`);
      const tok = join(root, `tok-${arch}`);
      await mkdir(tok);
      await writeFile(join(tok, "tokenizer.json"), '{"model": {}}');
      await writeFile(join(tok, "tokenizer_config.json"), "{}");
      await saveModelDir(dir, config, tensors, {
        copyFiles: await tokenizerFilesIn(tok),
        files: { "README.md": "tiny\n" },
      });
      assert.deepEqual((await readdir(dir)).sort(), [
        "README.md",
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
      ]);
      assert.ok(await isModelDir(dir));
      assert.deepEqual(await readdir(root).then((l) => l.filter((n) => n.startsWith("."))), []);
      const report = await checkModelDir(dir);
      assert.ok(report.ok, JSON.stringify(report));
      assert.deepEqual([report.missing, report.unexpected, report.misShaped], [[], [], []]);
      assert.deepEqual(report.config, { ...config, torchDtype: "float32" });

      const m = await openModelDir(dir);
      assert.deepEqual(m.config, { ...config, torchDtype: "float32" });
      assert.deepEqual(m.generation?.eosTokenIds, config.eosTokenIds);
      assert.deepEqual(m.weights.names(), [...tensors.keys()]);
      for (const [name, t] of tensors) {
        assert.deepEqual(m.weights.entry(name).shape, t.shape);
        assert.deepEqual(await m.weights.readFloat32(name), t.data, name);
      }
      await m.close();
      assert.equal(await readFile(join(dir, "tokenizer.json"), "utf8"), '{"model": {}}');
    });
  }

  it("stores bf16 (torch_dtype bfloat16) and shards with an index", async () => {
    const config = tiny.qwen2;
    const tensors = initRandomModel(config, 2);
    const dir = join(root, "bf16-sharded");
    await saveModelDir(dir, config, tensors, { dtype: "BF16", maxShardBytes: 8000 });
    const files = await readdir(dir);
    assert.ok(files.includes(INDEX_FILE));
    assert.ok(
      files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length >= 3,
      files.join(" "),
    );
    assert.equal((await readHfConfig(join(dir, "config.json"))).torchDtype, "bfloat16");
    const report = await checkModelDir(dir);
    assert.ok(report.ok);
    assert.ok(report.files.length >= 3);
    const m = await openModelDir(dir);
    for (const [name, t] of tensors) {
      assert.equal(m.weights.entry(name).dtype, "BF16");
      assert.deepEqual(await m.weights.readFloat32(name), bf16ToF32(f32ToBf16(t.data as Float32Array)), name);
    }
    await m.close();

    // bf16 tensors saved back as F32 are the same values
    const again = new Map<string, ModelTensor>();
    for (const [name, t] of tensors)
      again.set(name, { dtype: "BF16", shape: t.shape, data: f32ToBf16(t.data as Float32Array) });
    const dir2 = join(root, "bf16-to-f32");
    await saveModelDir(dir2, config, again, { dtype: "F32" });
    const m2 = await openModelDir(dir2);
    const name = "model.layers.1.mlp.down_proj.weight";
    assert.equal(m2.weights.entry(name).dtype, "F32");
    assert.deepEqual(await m2.weights.readFloat32(name), bf16ToF32(again.get(name)?.data as Uint16Array));
    await m2.close();
  });

  it("reports a missing, a mis-shaped and an unexpected tensor by name", async () => {
    const config = tiny.qwen3;
    const dir = join(root, "damaged");
    const tensors = initRandomModel(config, 3);
    await saveModelDir(dir, config, tensors);
    const list: Array<[string, TensorToWrite]> = [...tensors]
      .filter(([name]) => name !== "model.layers.1.self_attn.k_norm.weight")
      .map(([name, t]) =>
        name === "model.layers.0.mlp.up_proj.weight"
          ? [name, { dtype: "F32", shape: [32, 48], data: t.data }]
          : [name, { dtype: t.dtype, shape: t.shape, data: t.data }],
      );
    list.push(["lm_head.weight", { dtype: "F32", shape: [64, 32], data: new Float32Array(64 * 32) }]);
    await writeSafetensors(join(dir, "model.safetensors"), list);
    const r = await checkModelDir(dir);
    assert.equal(r.ok, false);
    assert.deepEqual(r.missing, [
      { name: "model.layers.1.self_attn.k_norm.weight", shape: [16], kind: "norm" },
    ]);
    assert.deepEqual(r.misShaped, [
      { name: "model.layers.0.mlp.up_proj.weight", expected: [48, 32], actual: [32, 48] },
    ]);
    assert.deepEqual(r.unexpected, [{ name: "lm_head.weight", shape: [64, 32], dtype: "F32" }]);
  });

  it("refuses tensors that do not match the config, naming them", async () => {
    const config = tiny.llama;
    const tensors = initRandomModel(config, 4);
    tensors.delete("model.layers.0.self_attn.o_proj.bias");
    const q = tensors.get("model.layers.1.self_attn.q_proj.weight") as ModelTensor;
    tensors.set("model.layers.1.self_attn.q_proj.weight", { ...q, shape: [16, 64] });
    const dir = join(root, "refused");
    await assert.rejects(saveModelDir(dir, config, tensors), (e: Error) => {
      assert.match(e.message, /missing tensor model\.layers\.0\.self_attn\.o_proj\.bias \[32\]/);
      assert.match(
        e.message,
        /tensor model\.layers\.1\.self_attn\.q_proj\.weight has shape \[16,64\], expected \[32,32\]/,
      );
      return true;
    });
    assert.equal(await isModelDir(dir), false);
  });

  it("never leaves a half-written folder, and replaces one only when asked", async () => {
    const config = tiny.qwen2;
    const tensors = initRandomModel(config, 5);
    const parent = await mkdtemp(join(root, "atomic-"));
    const dir = join(parent, "model");
    await assert.rejects(
      saveModelDir(dir, config, tensors, { copyFiles: [join(parent, "no-such-tokenizer.json")] }),
      /ENOENT/,
    );
    assert.deepEqual(await readdir(parent), []); // neither the folder nor a temporary one

    await saveModelDir(dir, config, tensors);
    const before = await readFile(join(dir, "model.safetensors"));
    const other = initRandomModel(config, 6);
    await assert.rejects(saveModelDir(dir, config, other), /folder exists and is not empty/);
    assert.deepEqual(await readFile(join(dir, "model.safetensors")), before);

    await saveModelDir(dir, config, other, { overwrite: true, generation: { temperature: 0.6, topP: 0.95 } });
    assert.notDeepEqual(await readFile(join(dir, "model.safetensors")), before);
    assert.deepEqual(await readdir(parent), ["model"]);
    const m = await openModelDir(dir);
    assert.deepEqual([m.generation?.temperature, m.generation?.topP], [0.6, 0.95]);
    await m.close();

    await mkdir(join(parent, "empty"));
    await saveModelDir(join(parent, "empty"), config, tensors); // an empty folder is filled
    assert.ok((await checkModelDir(join(parent, "empty"))).ok);
    await assert.rejects(
      saveModelDir(join(parent, "x"), config, tensors, { files: { "config.json": "{}" } }),
      /reserved/,
    );
  });
});
