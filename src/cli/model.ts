/** `reasonrl model ...`: make and check model folders (Hugging Face layout). */
import { statSync } from "node:fs";
import { basename, dirname } from "node:path";
import { type Command, Option } from "commander";
import { type ModelConfigInput, modelConfig } from "../model/hf-config.ts";
import { checkModelDir, formatTensorDiff, parameterCount } from "../model/model-dir.ts";
import { createRandomModelDir, endOfSequenceIds } from "../model/model-dir-init.ts";
import type { FloatDType } from "../model/safetensors-dtype.ts";
import { Tokenizer } from "../model/tokenizer.ts";
import { decimal, integer, jsonOption, positiveInteger } from "./options.ts";
import { fail, printResult } from "./output.ts";

const int = positiveInteger;

/** The stored dtype of `model init --dtype`. */
const STORED: Record<string, FloatDType> = { f32: "F32", f16: "F16", bf16: "BF16" };

export function register(program: Command): void {
  const model = program.command("model").description("make and check model folders");
  model
    .command("init")
    .description("write a randomly initialised model (for from-scratch tiny models and tests)")
    .requiredOption("--arch <arch>", "qwen2, llama or qwen3")
    .requiredOption(
      "--vocab-from <path>",
      "tokenizer.json (or its folder): vocabulary size and tokenizer files",
    )
    .requiredOption("--hidden <n>", "hidden size", int)
    .requiredOption("--layers <n>", "layers", int)
    .requiredOption("--heads <n>", "attention heads", int)
    .option("--kv-heads <n>", "key/value heads (default: heads)", int)
    .requiredOption("--ffn <n>", "MLP width", int)
    .option("--head-dim <n>", "per-head dimension (qwen3, llama)", int)
    .option("--tie", "tie the output projection to the embeddings")
    .option("--rope-theta <x>", "RoPE base frequency (default 10000)", decimal({ min: Number.MIN_VALUE }))
    .option("--max-positions <n>", "max_position_embeddings (default 32768 for qwen, 2048 for llama)", int)
    .option(
      "--vocab-size <n>",
      "rows of the embedding and output (default: the tokenizer's size; real models pad it, e.g. 151936)",
      int,
    )
    .addOption(
      new Option("--dtype <type>", "stored dtype of every tensor (default f32)").choices(Object.keys(STORED)),
    )
    .option("--seed <n>", "random seed", integer({ min: 0 }), 0)
    .option(
      "--eos <token>",
      "the end-of-sequence token (default: the tokenizer's eos_token, else the token that ends an assistant turn in its chat template)",
    )
    .option("--overwrite", "replace an existing folder")
    .requiredOption("--out <dir>", "model folder to write")
    .addOption(jsonOption("print only the JSON result"))
    .action(async (o) => {
      const tokenizer = loadTokenizer(o.vocabFrom);
      const eos =
        o.eos === undefined
          ? endOfSequenceIds(tokenizer, `--vocab-from ${o.vocabFrom}`).ids
          : [eosId(tokenizer, o.eos)];
      if (o.vocabSize !== undefined && o.vocabSize < tokenizer.vocabSize) {
        throw new Error(
          `--vocab-size ${o.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} tokens`,
        );
      }
      const config = modelConfig(
        {
          arch: o.arch,
          vocabSize: o.vocabSize ?? tokenizer.vocabSize,
          hidden: o.hidden,
          layers: o.layers,
          heads: o.heads,
          kvHeads: o.kvHeads,
          ffn: o.ffn,
          headDim: o.headDim,
          tieEmbeddings: Boolean(o.tie),
          ropeTheta: o.ropeTheta,
          maxPositions: o.maxPositions,
          bosTokenId: tokenizer.bosId ?? null,
          eosTokenIds: eos,
        } as ModelConfigInput,
        "model init options",
      );
      await createRandomModelDir(o.out, {
        config,
        tokenizerFrom: o.vocabFrom,
        seed: o.seed,
        dtype: STORED[o.dtype ?? "f32"],
        overwrite: o.overwrite,
      });
      const parameters = parameterCount(config);
      printResult({ out: o.out, arch: o.arch, parameters }, o, `wrote ${o.out} (${parameters} parameters)`);
    });
  model
    .command("check <dir>")
    .description("check a model folder's tensors against its config.json")
    .addOption(jsonOption("print only the JSON result"))
    .action(async (dir: string, o) => {
      const report = await checkModelDir(dir);
      const problems = formatTensorDiff(report);
      printResult({ dir, ok: report.ok, problems }, o, report.ok ? `${dir}: ok` : `${dir}:\n${problems}`);
      if (!report.ok) fail(`${dir} does not match its config`);
    });
}

/**
 * The tokenizer of --vocab-from: a folder, or its tokenizer.json (then read with the
 * tokenizer_config.json beside it, as the folder's files are what the model gets).
 */
function loadTokenizer(vocabFrom: string): Tokenizer {
  let isFolder: boolean;
  try {
    isFolder = statSync(vocabFrom).isDirectory();
  } catch {
    fail(`--vocab-from ${vocabFrom}: not found`);
  }
  if (isFolder) return Tokenizer.fromDir(vocabFrom);
  if (basename(vocabFrom) !== "tokenizer.json")
    fail(`--vocab-from ${vocabFrom}: expected a tokenizer folder or a file named tokenizer.json`);
  return Tokenizer.fromDir(dirname(vocabFrom));
}

/** The id of --eos's token. */
function eosId(tokenizer: Tokenizer, token: string): number {
  const id = tokenizer.tokenToId(token);
  if (id === undefined) fail(`--eos ${token}: not a token of the tokenizer`);
  return id;
}
