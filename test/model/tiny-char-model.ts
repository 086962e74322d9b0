/**
 * A tiny random Qwen2 model folder (width 32, 2 layers) with the arithmetic
 * task's character tokenizer, for tests of the serving and model-calling paths.
 * Its matrices are drawn 25x wider than the usual init so that its greedy
 * outputs vary from token to token.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { writeArithmeticTokenizer } from "../../src/data/synthetic/arithmetic-tokenizer.ts";
import { modelConfig } from "../../src/model/hf-config.ts";
import { saveModelDir, TOKENIZER_FILES } from "../../src/model/model-dir.ts";
import { initRandomModel } from "../../src/model/model-dir-init.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";

export interface TinyCharModelOptions {
  /** Characters the tokenizer covers besides the arithmetic task's. */
  extraCharacters?: string;
  /** Context (max_position_embeddings). */
  maxPositions: number;
  /** Seed of the random weights. */
  seed: number;
}

/** Writes the model into `<root>/tiny` (its tokenizer files are made in `<root>/tokenizer`); returns the folder. */
export async function makeTinyCharModel(root: string, o: TinyCharModelOptions): Promise<string> {
  const tokDir = join(root, "tokenizer");
  await writeArithmeticTokenizer(tokDir, o.extraCharacters);
  const tokenizer = Tokenizer.fromDir(tokDir);
  const config = modelConfig({
    arch: "qwen2",
    vocabSize: tokenizer.vocabSize,
    hidden: 32,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    ffn: 64,
    maxPositions: o.maxPositions,
    eosTokenIds: tokenizer.eosIds as number[],
  });
  const tensors = initRandomModel(config, o.seed);
  for (const t of tensors.values()) {
    if (t.shape.length === 2) for (let i = 0; i < t.data.length; i++) t.data[i] *= 25;
  }
  const dir = join(root, "tiny");
  await saveModelDir(dir, config, tensors, {
    copyFiles: TOKENIZER_FILES.map((f) => join(tokDir, f)).filter(existsSync),
  });
  return dir;
}
