/** A tiny random model for generation tests, shared by the test files of src/generate. */
import type { Engine } from "../../src/engine/index.ts";
import {
  initLlamaWeights,
  type LlamaConfig,
  type LlamaWeights,
  llamaParameters,
  parseLlamaConfig,
} from "../../src/model/llama.ts";
import { seededRandom } from "../../src/model/random.ts";

/** Weights wider than the init's (uniform in [-0.5, 0.5)), so predictions vary from token to token. */
export function tinyRandomModel(
  engine: Engine,
  extra: object,
  seed: number,
): { config: LlamaConfig; weights: LlamaWeights } {
  const config = parseLlamaConfig({
    vocabSize: 37,
    hidden: 16,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    ffn: 24,
    ...extra,
  });
  const weights = initLlamaWeights(engine, config, seed);
  const rand = seededRandom(seed);
  for (const p of llamaParameters(weights)) {
    if (p.shape.length === 2 || p.name.match(/\.b[qkv]$/))
      p.write(Float32Array.from({ length: p.size }, () => rand() - 0.5));
  }
  return { config, weights };
}
