/** `reasonrl model ...`: make and check model folders (Hugging Face layout). */
import type { Command } from "commander";
import { type ModelConfigInput, modelConfig } from "../model/hf-config.ts";
import { checkModelDir, formatTensorDiff, parameterCount } from "../model/model-dir.ts";
import { createRandomModelDir } from "../model/model-dir-init.ts";
import { Tokenizer } from "../model/tokenizer.ts";
import { fail, printResult } from "./output.ts";

const int = (v: string) => Number.parseInt(v, 10);

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
    .option("--seed <n>", "random seed", int, 0)
    .option("--overwrite", "replace an existing folder")
    .requiredOption("--out <dir>", "model folder to write")
    .option("--json", "print only the JSON result")
    .action(async (o) => {
      const tokenizer = o.vocabFrom.endsWith(".json")
        ? Tokenizer.fromFiles(o.vocabFrom)
        : Tokenizer.fromDir(o.vocabFrom);
      const config = modelConfig(
        {
          arch: o.arch,
          vocabSize: tokenizer.vocabSize,
          hidden: o.hidden,
          layers: o.layers,
          heads: o.heads,
          kvHeads: o.kvHeads,
          ffn: o.ffn,
          headDim: o.headDim,
          tieEmbeddings: Boolean(o.tie),
          bosTokenId: tokenizer.bosId ?? null,
          eosTokenIds: [...tokenizer.eosIds],
        } as ModelConfigInput,
        "model init options",
      );
      await createRandomModelDir(o.out, {
        config,
        tokenizerFrom: o.vocabFrom,
        seed: o.seed,
        overwrite: o.overwrite,
      });
      const parameters = parameterCount(config);
      printResult({ out: o.out, arch: o.arch, parameters }, o, `wrote ${o.out} (${parameters} parameters)`);
    });
  model
    .command("check <dir>")
    .description("check a model folder's tensors against its config.json")
    .option("--json", "print only the JSON result")
    .action(async (dir: string, o) => {
      const report = await checkModelDir(dir);
      const problems = formatTensorDiff(report);
      printResult({ dir, ok: report.ok, problems }, o, report.ok ? `${dir}: ok` : `${dir}:\n${problems}`);
      if (!report.ok) fail(`${dir} does not match its config`);
    });
}
