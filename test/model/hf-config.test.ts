import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  fromHfConfig,
  type ModelConfig,
  modelConfig,
  readHfConfig,
  ropeFrequencyDivisors,
  toHfConfig,
  writeHfConfig,
} from "../../src/model/hf-config.ts";
import { expectedTensors } from "../../src/model/model-dir.ts";

// The config.json files of the models, as published on the Hugging Face hub.
const DEEPSEEK_R1_DISTILL_QWEN_1_5B = {
  architectures: ["Qwen2ForCausalLM"],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: "silu",
  hidden_size: 1536,
  initializer_range: 0.02,
  intermediate_size: 8960,
  max_position_embeddings: 131072,
  max_window_layers: 21,
  model_type: "qwen2",
  num_attention_heads: 12,
  num_hidden_layers: 28,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  sliding_window: 4096,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  transformers_version: "4.44.0",
  use_cache: true,
  use_mrope: false,
  use_sliding_window: false,
  vocab_size: 151936,
};

const QWEN2_5_0_5B_INSTRUCT = {
  architectures: ["Qwen2ForCausalLM"],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: "silu",
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 21,
  model_type: "qwen2",
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  transformers_version: "4.43.1",
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

const LLAMA_3_2_1B = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: 128001,
  head_dim: 64,
  hidden_act: "silu",
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 32.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: "llama3",
  },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  transformers_version: "4.45.0.dev0",
  use_cache: true,
  vocab_size: 128256,
};

const QWEN3_0_6B = {
  architectures: ["Qwen3ForCausalLM"],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  head_dim: 128,
  hidden_act: "silu",
  hidden_size: 1024,
  initializer_range: 0.02,
  intermediate_size: 3072,
  max_position_embeddings: 40960,
  max_window_layers: 28,
  model_type: "qwen3",
  num_attention_heads: 16,
  num_hidden_layers: 28,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  transformers_version: "4.51.0",
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

const paramCount = (c: ModelConfig) =>
  expectedTensors(c).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
const shapeOf = (c: ModelConfig, name: string) => expectedTensors(c).find((t) => t.name === name)?.shape;

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "reasonrl-cfg-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("config.json of real models", () => {
  it("reads DeepSeek-R1-Distill-Qwen-1.5B (Qwen2, untied, q/k/v biases)", () => {
    const c = fromHfConfig(DEEPSEEK_R1_DISTILL_QWEN_1_5B);
    assert.equal(c.arch, "qwen2");
    assert.deepEqual(
      [c.vocabSize, c.hidden, c.ffn, c.layers, c.heads, c.kvHeads, c.headDim],
      [151936, 1536, 8960, 28, 12, 2, 128],
    );
    assert.deepEqual([c.ropeTheta, c.rmsEps, c.tieEmbeddings, c.maxPositions], [10000, 1e-6, false, 131072]);
    assert.deepEqual(
      [c.bosTokenId, c.eosTokenIds, c.torchDtype, c.ropeScaling],
      [151643, [151643], "bfloat16", null],
    );
    assert.deepEqual([c.qkvBias, c.oBias, c.qkNorm], [true, false, false]);
    assert.equal(c.extra.sliding_window, 4096);
    assert.equal(c.extra.transformers_version, "4.44.0");
    const tensors = expectedTensors(c);
    assert.equal(tensors.length, 1 + 28 * 12 + 2);
    assert.equal(paramCount(c), 1_777_088_000); // the published 1.78B
    assert.deepEqual(shapeOf(c, "model.layers.27.self_attn.k_proj.weight"), [256, 1536]);
    assert.deepEqual(shapeOf(c, "model.layers.0.self_attn.q_proj.bias"), [1536]);
    assert.equal(shapeOf(c, "model.layers.0.self_attn.o_proj.bias"), undefined);
    assert.deepEqual(shapeOf(c, "lm_head.weight"), [151936, 1536]);
    assert.equal(ropeFrequencyDivisors(c), null);
  });

  it("reads Qwen2.5-0.5B-Instruct (tied embeddings: no lm_head)", () => {
    const c = fromHfConfig(QWEN2_5_0_5B_INSTRUCT);
    assert.deepEqual(
      [c.arch, c.tieEmbeddings, c.headDim, c.ropeTheta, c.eosTokenIds],
      ["qwen2", true, 64, 1e6, [151645]],
    );
    assert.equal(shapeOf(c, "lm_head.weight"), undefined);
    assert.equal(paramCount(c), 494_032_768); // the published 0.49B
  });

  it("reads Llama-3.2-1B with its llama3 RoPE scaling", () => {
    const c = fromHfConfig(LLAMA_3_2_1B);
    assert.deepEqual([c.arch, c.headDim, c.kvHeads, c.rmsEps, c.tieEmbeddings], ["llama", 64, 8, 1e-5, true]);
    assert.deepEqual([c.qkvBias, c.oBias, c.qkNorm], [false, false, false]);
    assert.deepEqual(c.ropeScaling, {
      type: "llama3",
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositions: 8192,
    });
    assert.equal(paramCount(c), 1_235_814_400); // the published 1.24B
    assert.equal(c.extra.pretraining_tp, 1);

    // wavelengths under 8192/4 = 2048 positions keep their frequency, over 8192 are divided by 32
    const d = ropeFrequencyDivisors(c) as Float32Array;
    assert.equal(d.length, 32);
    for (let i = 0; i < 32; i++) {
      const wavelen = 2 * Math.PI * 500000 ** ((2 * i) / 64);
      if (wavelen < 2048) assert.equal(d[i], 1, `pair ${i}`);
      else if (wavelen > 8192) assert.ok(Math.abs(d[i] - 32) < 1e-4, `pair ${i}: ${d[i]}`);
      else assert.ok(d[i] > 1 && d[i] < 32, `pair ${i}: ${d[i]}`);
      if (i > 0) assert.ok(d[i] >= d[i - 1], "divisors grow with wavelength");
    }
    // pair 16: wavelength ~4443, between; smooth s = (8192/4443 - 1) / (4 - 1), inv = (1 - s)/32 + s
    const w = 2 * Math.PI * 500000 ** (32 / 64);
    const s = (8192 / w - 1) / 3;
    assert.ok(Math.abs(d[16] - 1 / ((1 - s) / 32 + s)) < 1e-5);
    assert.deepEqual([d[14], d[18]], [1, 32]);
  });

  it("reads Qwen3-0.6B (head_dim 128 != hidden/heads, q/k norms, no biases)", () => {
    const c = fromHfConfig(QWEN3_0_6B);
    assert.deepEqual([c.arch, c.headDim, c.heads, c.kvHeads, c.hidden], ["qwen3", 128, 16, 8, 1024]);
    assert.deepEqual([c.qkvBias, c.oBias, c.qkNorm, c.ropeScaling], [false, false, true, null]);
    assert.deepEqual(shapeOf(c, "model.layers.0.self_attn.q_proj.weight"), [2048, 1024]);
    assert.deepEqual(shapeOf(c, "model.layers.0.self_attn.k_proj.weight"), [1024, 1024]);
    assert.deepEqual(shapeOf(c, "model.layers.0.self_attn.o_proj.weight"), [1024, 2048]);
    assert.deepEqual(shapeOf(c, "model.layers.0.self_attn.q_norm.weight"), [128]);
    assert.deepEqual(shapeOf(c, "model.layers.0.self_attn.k_norm.weight"), [128]);
    assert.equal(paramCount(c), 596_049_920); // the published 0.6B (0.44B without embeddings)
  });

  it("round-trips each config through config.json (sorted keys, other fields kept)", async () => {
    for (const [name, json] of Object.entries({
      DEEPSEEK_R1_DISTILL_QWEN_1_5B,
      QWEN2_5_0_5B_INSTRUCT,
      LLAMA_3_2_1B,
      QWEN3_0_6B,
    })) {
      const c = fromHfConfig(json, name);
      const path = join(root, `${name}.json`);
      await writeHfConfig(path, c);
      const text = await readFile(path, "utf8");
      const written = JSON.parse(text);
      assert.deepEqual(Object.keys(written), Object.keys(written).sort());
      assert.ok(text.endsWith("}\n"));
      assert.deepEqual(await readHfConfig(path), c, name);
      // every published field is written back with its value
      for (const [k, v] of Object.entries(json)) assert.deepEqual(written[k], v, `${name}.${k}`);
    }
  });
});

describe("config errors name the file, the field and the value", () => {
  const bad =
    (patch: Record<string, unknown>, base: object = DEEPSEEK_R1_DISTILL_QWEN_1_5B) =>
    () =>
      fromHfConfig({ ...base, ...patch }, "/m/config.json");
  it("rejects what reasonrl does not implement", () => {
    assert.throws(
      bad({ architectures: ["MistralForCausalLM"] }),
      /^Error: \/m\/config\.json: field architectures = \["MistralForCausalLM"\]: not supported \(reasonrl supports one of Qwen2ForCausalLM, LlamaForCausalLM, Qwen3ForCausalLM\)/,
    );
    assert.throws(
      bad({ rope_scaling: { type: "yarn", factor: 4, original_max_position_embeddings: 32768 } }),
      /\/m\/config\.json: field rope_scaling\.rope_type = "yarn": RoPE scaling of this type is not supported/,
    );
    assert.throws(
      bad({ rope_scaling: { rope_type: "dynamic", factor: 2 } }, LLAMA_3_2_1B),
      /field rope_scaling\.rope_type = "dynamic"/,
    );
    assert.throws(bad({ hidden_act: "gelu" }), /field hidden_act = "gelu": only silu/);
    assert.throws(bad({ use_sliding_window: true }), /field use_sliding_window = true/);
    assert.throws(bad({ mlp_bias: true }, LLAMA_3_2_1B), /field mlp_bias = true/);
    assert.throws(bad({ torch_dtype: "float8_e4m3fn" }), /field torch_dtype = "float8_e4m3fn"/);
    assert.throws(bad({ model_type: "llama" }), /field model_type = "llama": does not match/);
    assert.throws(
      bad({ head_dim: 64 }),
      /field head_dim \(headDim\) 64 must be hidden_size \/ num_attention_heads in qwen2/,
    );
  });

  it("rejects malformed values", () => {
    assert.throws(
      bad({ num_attention_heads: "12" }),
      /\/m\/config\.json: field num_attention_heads = "12": .*expected number/,
    );
    assert.throws(bad({ vocab_size: undefined }), /field vocab_size = undefined/);
    assert.throws(bad({ hidden_size: 1.5 }), /field hidden_size = 1\.5/);
    assert.throws(
      bad({ num_key_value_heads: 5 }),
      /field num_key_value_heads \(kvHeads\) 5 does not divide num_attention_heads 12/,
    );
    assert.throws(
      bad({ num_attention_heads: 7 }),
      /hidden_size \(hidden\) 1536 is not divisible by num_attention_heads \(heads\) 7/,
    );
    assert.throws(bad({ eos_token_id: [1, "x"] }), /field eos_token_id/);
    assert.throws(
      bad({ rope_scaling: { rope_type: "linear" } }),
      /field rope_scaling\.factor = undefined: must be a positive number/,
    );
    assert.throws(
      bad({ rope_scaling: { ...LLAMA_3_2_1B.rope_scaling, high_freq_factor: 0.5 } }, LLAMA_3_2_1B),
      /rope_scaling\.high_freq_factor 0\.5 must exceed low_freq_factor 1/,
    );
  });

  it("reports unreadable files by path", async () => {
    const path = join(root, "broken.json");
    await writeFile(path, "{ not json");
    await assert.rejects(readHfConfig(path), new RegExp(`${path}: cannot read config`));
    await assert.rejects(readHfConfig(join(root, "absent.json")), /absent\.json: cannot read config: ENOENT/);
  });
});

describe("other config forms", () => {
  it("accepts linear and default RoPE scaling, eos lists, and transformers 5 rope_parameters", () => {
    const linear = fromHfConfig({
      ...LLAMA_3_2_1B,
      rope_scaling: { type: "linear", factor: 2 },
      eos_token_id: [1, 2],
    });
    assert.deepEqual(linear.ropeScaling, { type: "linear", factor: 2 });
    assert.deepEqual([...(ropeFrequencyDivisors(linear) as Float32Array)], new Array(32).fill(2));
    assert.deepEqual(linear.eosTokenIds, [1, 2]);
    assert.deepEqual(toHfConfig(linear).eos_token_id, [1, 2]);
    assert.deepEqual(fromHfConfig(toHfConfig(linear)), linear);
    assert.equal(fromHfConfig({ ...LLAMA_3_2_1B, rope_scaling: { rope_type: "default" } }).ropeScaling, null);

    const { rope_theta: _t, rope_scaling: _s, torch_dtype: _d, ...v5 } = LLAMA_3_2_1B;
    const c = fromHfConfig({
      ...v5,
      dtype: "bfloat16",
      rope_parameters: { ...LLAMA_3_2_1B.rope_scaling, rope_theta: 500000 },
    });
    assert.deepEqual([c.ropeTheta, c.ropeScaling?.type, c.torchDtype], [500000, "llama3", "bfloat16"]);
  });

  it("fills transformers' defaults for absent fields and builds configs in code", () => {
    const minimal = {
      architectures: ["LlamaForCausalLM"],
      vocab_size: 100,
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
    };
    const c = fromHfConfig(minimal);
    assert.deepEqual(
      [
        c.kvHeads,
        c.headDim,
        c.ropeTheta,
        c.rmsEps,
        c.tieEmbeddings,
        c.maxPositions,
        c.bosTokenId,
        c.eosTokenIds,
      ],
      [4, 16, 10000, 1e-6, false, 2048, null, []],
    );
    const q = modelConfig({
      arch: "qwen3",
      vocabSize: 50,
      hidden: 32,
      ffn: 64,
      layers: 1,
      heads: 4,
      kvHeads: 2,
      headDim: 16,
    });
    assert.deepEqual([q.headDim, q.qkNorm, q.maxPositions, q.attentionBias], [16, true, 32768, false]);
    assert.deepEqual(modelConfig({ ...q, layers: 3 }), { ...q, layers: 3 });
    assert.throws(
      () =>
        modelConfig({
          arch: "qwen2",
          vocabSize: 50,
          hidden: 32,
          ffn: 64,
          layers: 1,
          heads: 4,
          attentionBias: true,
        }),
      /attention_bias \(attentionBias\) is fixed in qwen2/,
    );
    assert.throws(
      () => modelConfig({ arch: "gpt2" as "llama", vocabSize: 1, hidden: 1, ffn: 1, layers: 1, heads: 1 }),
      /field arch = "gpt2"/,
    );
  });
});
