/**
 * Continuous batching (LocalGenerator.submit / generateEach): per-request options in one batch give
 * what each request gives alone and what generate() gives; streamed text pieces; aborts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import { StopText } from "../../src/generate/stop-text.ts";
import { greedyToken, topTokens } from "../../src/generate/top-tokens.ts";
import { initLlamaWeights, llamaParameters, parseLlamaConfig } from "../../src/model/llama.ts";
import { seededRandom } from "../../src/model/random.ts";
import { IncrementalDecoder } from "../../src/model/tokenizer.ts";

const engine = new Engine({ threads: 2 });

/** A tiny random Qwen2-like model with wide weights, so that its predictions vary. */
function tinyGenerator(maxBatch: number): LocalGenerator {
  const config = parseLlamaConfig({ vocabSize: 41, hidden: 16, layers: 2, heads: 4, kvHeads: 2, ffn: 24 });
  const weights = initLlamaWeights(engine, config, 5);
  const rand = seededRandom(5);
  for (const p of llamaParameters(weights)) {
    if (p.shape.length === 2) p.write(Float32Array.from({ length: p.size }, () => rand() - 0.5));
  }
  return new LocalGenerator(engine, config, weights, { maxBatch, eosIds: [0] });
}

const prompts = [[1, 2, 3], [7], [4, 4, 4, 4, 4, 4, 8], [20, 21], [9, 9], [30, 1, 2]].map((p) =>
  Int32Array.from(p),
);

describe("continuous batching", () => {
  test("generateEach with one set of options gives generate()'s completions", async () => {
    const gen = tinyGenerator(4);
    for (const options of [
      { temperature: 0, maxTokens: 9 },
      { temperature: 1, maxTokens: 9, n: 2, seed: 3 },
    ]) {
      const batch = await gen.generate(prompts, options);
      // generate() seeds prompt i with promptSeed(seed, i); generateEach uses the request's seed as is,
      // so compare prompt by prompt with generate() of that prompt alone
      for (const [i, p] of prompts.entries()) {
        const [alone] = await gen.generate([p], options);
        const [each] = await gen.generateEach([{ prompt: p, options }]);
        assert.deepEqual(
          each.map((c) => Array.from(c.ids)),
          alone.map((c) => Array.from(c.ids)),
          `prompt ${i}`,
        );
        each.forEach((c, j) => {
          assert.equal(c.finishReason, alone[j].finishReason);
          for (const [t, x] of c.logprobs.entries()) assert.ok(Math.abs(x - alone[j].logprobs[t]) < 1e-5);
        });
        if (options.temperature === 0) assert.deepEqual(Array.from(batch[i][0].ids), Array.from(each[0].ids));
      }
    }
  });

  test("requests with different options share batches and each gets its own answer", async () => {
    const gen = tinyGenerator(3); // fewer slots than sequences: some wait and join as others finish
    const requests = prompts.map((prompt, i) => ({
      prompt,
      options: [
        { temperature: 0, maxTokens: 12 },
        { temperature: 0.7, maxTokens: 5, seed: 1, n: 2 },
        { temperature: 1, topK: 5, maxTokens: 15, seed: 2 },
        { temperature: 1.3, topP: 0.8, maxTokens: 3, seed: 3 },
        { temperature: 0, maxTokens: 20, logprobs: false },
        { temperature: 0.5, minP: 0.2, maxTokens: 7, seed: 4, topLogprobs: 3 },
      ][i],
    }));
    const alone = [];
    for (const r of requests) alone.push(await gen.generateEach([r]));
    const stepsBefore = gen.stats().steps;
    const together = await gen.generateEach(requests);
    const steps = gen.stats().steps - stepsBefore;
    assert.deepEqual(
      together.map((samples) => samples.map((c) => Array.from(c.ids))),
      alone.map(([samples]) => samples.map((c) => Array.from(c.ids))),
    );
    assert.ok(steps < 12 + 5 + 15 + 3 + 20 + 7, `${steps} steps: not batched`);
    assert.deepEqual(gen.stats(), {
      waiting: 0,
      running: 0,
      steps: gen.stats().steps,
      tokens: gen.stats().tokens,
      cacheBytes: 0, // freed once idle
      peakCacheBytes: gen.stats().peakCacheBytes,
    });
    // per-request extras: no log-probs when not asked for (greedy rows then skip the softmax), top tokens
    assert.ok(together[4][0].logprobs.every(Number.isNaN));
    const top = together[5][0].top;
    assert.equal(top.length, together[5][0].ids.length);
    for (const step of top) {
      assert.equal(step.length, 3);
      assert.ok(step[0].logprob >= step[1].logprob && step[1].logprob >= step[2].logprob);
    }
  });

  test("tokens reach the callback as they are made; an abort drops the sequence", async () => {
    const gen = tinyGenerator(2);
    const seen: number[] = [];
    const stop = new AbortController();
    const aborted = gen.submit({
      prompt: prompts[0],
      options: { temperature: 0, maxTokens: 200 },
      onToken: (e) => {
        seen.push(e.token);
        if (seen.length === 5) stop.abort();
      },
      signal: stop.signal,
    });
    const other = gen.submit({ prompt: prompts[1], options: { temperature: 0, maxTokens: 30 } });
    await assert.rejects(aborted, { name: "AbortError" });
    assert.equal(seen.length, 5);
    assert.equal((await other).ids.length > 0, true);
    await gen.idle();
    assert.equal(gen.stats().running, 0);
    // invalid requests reject at once
    await assert.rejects(gen.submit({ prompt: new Int32Array(0) }), /empty/);
    await assert.rejects(gen.submit({ prompt: Int32Array.of(99) }), /outside the vocabulary/);
  });

  test("greedyToken and topTokens agree with a plain sort (first index on ties)", () => {
    const row = Float32Array.from([0.1, 0.3, 0.05, 0.3, 0.25]);
    assert.equal(greedyToken(row), 1);
    assert.deepEqual(
      topTokens(row, 3).map((t) => t.token),
      [1, 3, 4],
    );
    assert.ok(Math.abs(topTokens(row, 1)[0].logprob - Math.log(0.3)) < 1e-6);
  });
});

describe("StopText", () => {
  // a decoder over single characters: id = char code
  const decoder = () => new IncrementalDecoder((ids) => String.fromCharCode(...ids));
  const run = (text: string, stops: string[]) => {
    const s = new StopText(decoder(), stops);
    const pieces: string[] = [];
    for (const ch of text) {
      const stopped = s.push(ch.charCodeAt(0));
      pieces.push(s.take(stopped));
      if (stopped) break;
    }
    s.finish();
    pieces.push(s.take(true));
    return { text: s.text, stopped: s.stopped, pieces };
  };

  test("cuts before the first stop string and never hands out part of one", () => {
    const r = run("abc<END>def", ["<END>", "zz"]);
    assert.equal(r.text, "abc");
    assert.equal(r.stopped, true);
    assert.equal(r.pieces.join(""), "abc");
    for (const p of r.pieces) assert.ok(!p.includes("<"), JSON.stringify(r.pieces));
  });

  test("held-back text is released when it turns out not to be a stop string", () => {
    const r = run("ab<EN>cd", ["<END>"]);
    assert.equal(r.text, "ab<EN>cd");
    assert.equal(r.stopped, false);
    assert.equal(r.pieces.join(""), "ab<EN>cd");
    assert.ok(r.pieces.length > 2);
  });

  test("the earliest of several stop strings wins; empty stop strings are ignored", () => {
    assert.equal(run("xxBBxAAyy", ["AA", "BB", ""]).text, "xx");
    assert.equal(run("hello", [""]).text, "hello");
  });
});
