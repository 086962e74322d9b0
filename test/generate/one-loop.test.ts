/**
 * LocalGenerator.generate on the continuous-batching loop: a sequence's completion does not depend on
 * what else is decoded, the KV cache grows with the tokens generated (not prompt + max tokens up
 * front) and keeps what it holds when it grows, f16 caches, stop strings, and dispose().
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import { KvCache } from "../../src/model/kv-cache.ts";
import { logits, parseLlamaConfig } from "../../src/model/llama.ts";
import { loadModel } from "../../src/model/load.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";
import { makeTinyCharModel } from "../model/tiny-char-model.ts";
import { tinyRandomModel } from "./tiny-model.ts";

const engine = new Engine({ threads: 2 });

const tinyModel = (extra: object, seed: number) => tinyRandomModel(engine, extra, seed);

/** Greedy next token after each prefix of `tokens`, by the full (uncached) forward pass. */
async function fullArgmax(m: ReturnType<typeof tinyModel>, tokens: number[]): Promise<number[]> {
  const T = tokens.length;
  const ids = engine.tensor([1, T], { dtype: "i32", data: tokens });
  const pos = engine.tensor([T], { dtype: "i32", data: Int32Array.from({ length: T }, (_, i) => i) });
  const g = engine.graph();
  g.build({
    outputs: [g.argmax(g.reshape(logits(g, m.config, m.weights, ids, pos), [T, m.config.vocabSize]))],
  });
  const [values] = await g.compute();
  g.free();
  ids.free();
  pos.free();
  return Array.from(values as Int32Array);
}

const prompts = [[1, 2, 3], [7], [4, 4, 4, 4, 4, 4, 8], [20, 21], [9, 9], [30, 1, 2], [5, 6, 7, 8, 9]].map(
  (p) => Int32Array.from(p),
);

describe("one decode loop", () => {
  test("a sequence's tokens and log-probs do not depend on the batch it is decoded in", async () => {
    const m = tinyModel({ attentionBias: true }, 4);
    // EOS token 0 ends sequences at different steps, so with 2 or 3 slots sequences join as others leave
    const options = { temperature: 0.8, topP: 0.9, n: 3, maxTokens: 40, seed: 7 };
    const results = [];
    for (const maxBatch of [1, 2, 3, 32]) {
      const gen = new LocalGenerator(engine, m.config, m.weights, { maxBatch, eosIds: [0] });
      results.push(await gen.generate(prompts, options));
      await gen.dispose();
    }
    const [alone, ...others] = results;
    const lengths = alone.flat().map((c) => c.ids.length);
    assert.ok(new Set(lengths).size > 3, `completions of varied lengths: ${lengths}`);
    for (const other of others) {
      for (const [i, samples] of other.entries()) {
        for (const [j, c] of samples.entries()) {
          assert.deepEqual(Array.from(c.ids), Array.from(alone[i][j].ids), `prompt ${i} sample ${j}`);
          assert.equal(c.finishReason, alone[i][j].finishReason);
          for (const [t, x] of c.logprobs.entries()) {
            assert.ok(Math.abs(x - alone[i][j].logprobs[t]) < 1e-5, `prompt ${i} sample ${j} token ${t}`);
          }
        }
      }
    }
  });

  test("the KV cache grows with the tokens generated, not with prompt + max tokens", async () => {
    const m = tinyModel({}, 6);
    const free = new LocalGenerator(engine, m.config, m.weights);
    const [[c]] = await free.generate([Int32Array.from([2, 3])], { temperature: 0, maxTokens: 8 });
    const eos = c.ids[3]; // ends the completions below within 4 tokens
    const gen = new LocalGenerator(engine, m.config, m.weights, { eosIds: [eos] });
    const out = await gen.generate([Int32Array.from([2, 3])], { temperature: 0, maxTokens: 5000, n: 4 });
    assert.ok(out[0].every((s) => s.finishReason === "stop" && s.ids.length === c.ids.indexOf(eos) + 1));
    const { peakCacheBytes, cacheBytes } = gen.stats();
    const perPosition = 2 * m.config.layers * m.config.kvHeads * (m.config.hidden / m.config.heads) * 4; // f32 K + V
    assert.equal(peakCacheBytes, 4 * 64 * perPosition, "4 slots of one 64-position block");
    assert.equal(cacheBytes, 0, "freed once idle");
  });

  test("greedy decoding across cache growth matches the full forward pass", async () => {
    for (const [name, extra] of [
      ["Qwen2", { attentionBias: true }],
      ["Qwen3", { qkNorm: true, headDim: 8 }],
    ] as const) {
      const m = tinyModel(extra, 3);
      const gen = new LocalGenerator(engine, m.config, m.weights, { maxBatch: 2 });
      // 3 sequences in 2 slots, 200 tokens each: the cache grows 64 -> 128 -> 192 -> 256 positions
      const ps = [
        [5, 9, 1, 30, 2],
        [7, 7],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
      ].map((p) => Int32Array.from(p));
      const out = await gen.generate(ps, { temperature: 0, maxTokens: 200 });
      for (const [i, p] of ps.entries()) {
        const ids = Array.from(out[i][0].ids);
        assert.equal(ids.length, 200);
        const expected = (await fullArgmax(m, [...p, ...ids])).slice(p.length - 1, -1);
        const agree = ids.filter((t, k) => t === expected[k]).length;
        assert.equal(agree, ids.length, `${name} prompt ${i}: ${agree} of ${ids.length} tokens agree`);
      }
      assert.ok(gen.stats().peakCacheBytes > 0);
    }
  });

  test("an f16 cache decodes greedily as an f32 one, log-probs within 5e-3", async () => {
    for (const [name, extra] of [
      ["Llama", {}],
      ["Qwen2", { attentionBias: true }],
      ["Qwen3", { qkNorm: true, headDim: 8 }],
    ] as const) {
      const m = tinyModel(extra, 8);
      const run = async (kvCache: "f32" | "f16") => {
        const gen = new LocalGenerator(engine, m.config, m.weights, { kvCache, maxBatch: 4 });
        const out = await gen.generate(prompts, { temperature: 0, maxTokens: 30 });
        const bytes = gen.stats().peakCacheBytes;
        await gen.dispose();
        return { out, bytes };
      };
      const [f32, f16] = [await run("f32"), await run("f16")];
      assert.equal(f16.bytes * 2, f32.bytes, "half the memory");
      let worst = 0;
      for (const [i, [a]] of f32.out.entries()) {
        const [b] = f16.out[i];
        assert.deepEqual(Array.from(b.ids), Array.from(a.ids), `${name} prompt ${i}`);
        for (const [t, x] of a.logprobs.entries()) worst = Math.max(worst, Math.abs(x - b.logprobs[t]));
      }
      assert.ok(worst < 5e-3, `${name}: log-probs differ by ${worst}`);
    }
  });
});

describe("KvCache.grow", () => {
  test("keeps every slot's keys and values at their positions, new room zeroed (f32 and f16)", async () => {
    const config = parseLlamaConfig({ vocabSize: 37, hidden: 16, layers: 2, heads: 4, kvHeads: 2, ffn: 24 });
    const [B, S, Hkv, D] = [2, 3, 2, 4];
    for (const dtype of ["f32", "f16"] as const) {
      const cache = new KvCache(engine, config, B, S, dtype);
      // small integers: exact in f16; key (slot, head, position, dim) -> value 1 + its index
      const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => 1 + (i % 1000));
      for (let l = 0; l < config.layers; l++) {
        cache.keys[l].write(fill(B * Hkv * S * D));
        cache.values[l].write(fill(B * Hkv * D * S));
      }
      await cache.grow(3, 5);
      assert.deepEqual([cache.batch, cache.capacity, cache.keys[0].shape], [3, 5, [3 * Hkv * 5, D]]);
      for (let l = 0; l < config.layers; l++) {
        const keys = cache.keys[l].readF32();
        const values = cache.values[l].readF32();
        for (let h = 0; h < 3 * Hkv; h++) {
          for (let p = 0; p < 5; p++) {
            for (let d = 0; d < D; d++) {
              const old = h < B * Hkv && p < S;
              assert.equal(keys[(h * 5 + p) * D + d], old ? 1 + ((h * S + p) * D + d) : 0, `${dtype} key`);
              assert.equal(
                values[(h * D + d) * 5 + p],
                old ? 1 + ((h * D + d) * S + p) : 0,
                `${dtype} value`,
              );
            }
          }
        }
      }
      assert.equal(cache.bytes, 2 * config.layers * 3 * Hkv * 5 * D * (dtype === "f16" ? 2 : 4));
      await assert.rejects(cache.grow(2, 5), /cannot shrink/);
      cache.free();
    }
  });
});

describe("stop strings and text", () => {
  let root: string;
  let model: Awaited<ReturnType<typeof loadModel>>;
  let tokenizer: Tokenizer;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "reasonrl-one-loop-"));
    const dir = await makeTinyCharModel(root, { maxPositions: 256, seed: 11 });
    model = await loadModel(engine, dir);
    tokenizer = Tokenizer.fromDir(dir);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("a stop string ends the completion and is cut from its text; text is the decoded tokens", async () => {
    const gen = new LocalGenerator(engine, model.config, model.weights, {}, tokenizer);
    const prompt = Int32Array.from(tokenizer.encode("Compute 3+4-2.", { addSpecialTokens: false }));
    const [[free]] = await gen.generate([prompt], { temperature: 0, maxTokens: 40 });
    assert.equal(free.text, tokenizer.decode(free.ids, { skipSpecialTokens: true }));
    assert.ok(free.text.length >= 12, `a long enough completion: ${JSON.stringify(free.text)}`);
    const stop = free.text.slice(6, 9); // ends a few tokens in; may first occur earlier
    const at = free.text.indexOf(stop);
    const [[c]] = await gen.generate([prompt], {
      temperature: 0,
      maxTokens: 40,
      stop: ["\u0000never", stop],
    });
    assert.equal(c.finishReason, "stop");
    assert.equal(c.text, free.text.slice(0, at));
    // it ended on the token that completed the stop string
    const through = tokenizer.decode(c.ids, { skipSpecialTokens: true });
    assert.ok(through.endsWith(stop) || through.slice(at).startsWith(stop), JSON.stringify(through));
    assert.ok(!tokenizer.decode(c.ids.slice(0, -1), { skipSpecialTokens: true }).includes(stop));
  });
});

describe("dispose", () => {
  test("rejects the sequences in flight and waiting, frees the cache, and later calls throw", async () => {
    const m = tinyModel({}, 9);
    const gen = new LocalGenerator(engine, m.config, m.weights, { maxBatch: 2 });
    const seen: number[] = [];
    const running = gen.generate(prompts, { temperature: 1, maxTokens: 2000, seed: 1 });
    const streamed = gen.submit({
      prompt: prompts[0],
      options: { maxTokens: 2000 },
      onToken: (e) => {
        seen.push(e.token);
      },
    });
    const rejected = [running, streamed].map((p) => assert.rejects(p, /the generator was disposed/));
    while (gen.stats().tokens < 20) await new Promise((resolve) => setTimeout(resolve, 5));
    await gen.dispose();
    await Promise.all(rejected);
    const heard = seen.length;
    assert.deepEqual(
      { running: gen.stats().running, waiting: gen.stats().waiting, cacheBytes: gen.stats().cacheBytes },
      { running: 0, waiting: 0, cacheBytes: 0 },
    );
    await assert.rejects(gen.generate([prompts[0]]), /the generator was disposed/);
    await assert.rejects(gen.submit({ prompt: prompts[0] }), /the generator was disposed/);
    await assert.rejects(gen.generateEach([{ prompt: prompts[0] }]), /the generator was disposed/);
    await gen[Symbol.asyncDispose](); // idempotent
    assert.equal(seen.length, heard, "no token after dispose");
  });
});
