/**
 * `reasonrl bench <name>`: speed benchmarks. Every bench prints its progress,
 * a sentence for people, and last one JSON line `{"bench": "<name>", ...}`
 * with both sides of each comparison. With `--json` the progress goes to
 * stderr and stdout holds only the JSON line.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { benchCurate, describeCurateBench } from "../../bench/curate.ts";
import { benchEngine, describeEngineBench, type EngineBenchOptions } from "../../bench/engine.ts";
import { benchGenerate, describeGenerateBench } from "../../bench/generate.ts";
import { benchGrpo, describeGrpoBench } from "../../bench/grpo.ts";
import { benchGrpoFleet, describeGrpoFleetBench } from "../../bench/grpo-fleet.ts";
import {
  benchLlamaServer,
  describeLlamaServerBench,
  type LlamaServerBenchOptions,
} from "../../bench/llama-server.ts";
import { benchMemory, describeMemoryBench, type MemoryBenchOptions } from "../../bench/memory.ts";
import { benchServe, describeServeBench } from "../../bench/serve.ts";
import {
  answerClassAgreement,
  describeClassAgreement,
  describeVerifyBench,
  runVerifyBench,
} from "../../bench/verify.ts";
import {
  commaList,
  type DeviceName,
  decimal,
  deviceOption,
  dtypeOption,
  jsonOption,
  nonNegativeInteger,
  positiveInteger,
  threadsOption,
  type WeightDType,
} from "./options.ts";

/** Options every bench has. */
interface BenchFlags {
  json?: boolean;
}

type Log = (line: string) => void;

/** A `bench <name>` subcommand with its description and `--json`. */
function benchCommand(bench: Command, name: string, description: string): Command {
  return bench
    .command(name)
    .description(description)
    .addOption(jsonOption("progress to stderr; stdout holds only the JSON result line"));
}

/**
 * Runs a bench and prints its result: progress lines (stdout, or stderr with
 * --json), the description (not with --json), then the JSON line, always last.
 */
async function report<R extends { bench: string }>(
  flags: BenchFlags,
  run: (log: Log) => Promise<R>,
  describe: (result: R) => string,
): Promise<void> {
  const log: Log = flags.json ? (line) => console.error(line) : (line) => console.log(line);
  const result = await run(log);
  if (!flags.json) console.log(describe(result));
  console.log(JSON.stringify(result));
}

/** "1,64" -> [1, 64]: positive whole numbers (commander names the flag when one is not). */
function positiveIntegerList(value: string): number[] {
  const items = commaList(value).map((item) => positiveInteger(item));
  if (items.length === 0) throw new InvalidArgumentError("expected comma-separated positive integers");
  return items;
}

/** Registers `reasonrl bench *`. Long by nature: one declarative option list per benchmark, no logic. */
export function register(program: Command): void {
  const bench = program
    .command("bench")
    .description("run a benchmark; its last line is one JSON object of figures");
  benchCommand(
    bench,
    "memory",
    "peak RSS of a LoRA loss pass at the 0.5B or 1.5B shape (random weights), one row of --tokens",
  )
    .addOption(
      new Option("--model <shape>", "0.5b (Qwen2.5-0.5B) or 1.5b (DeepSeek-R1-Distill-Qwen-1.5B)")
        .choices(["0.5b", "1.5b"])
        .default("1.5b"),
    )
    .option("--tokens <n>", "tokens per row", positiveInteger, 3584)
    .option("--rows <n>", "rows", positiveInteger, 1)
    .addOption(
      new Option("--dtype <type>", "storage of the frozen base")
        .choices(["f32", "f16", "bf16"])
        .default("bf16"),
    )
    .option("--lora-rank <n>", "LoRA rank (all seven projections)", positiveInteger, 16)
    .option(
      "--layers <n>",
      "fewer layers than the model has (a quicker, partial measurement)",
      positiveInteger,
    )
    .option("--no-checkpoint", "the trunk as one graph (no per-layer checkpointing)")
    .option("--query-chunk <n>", "queries per attention chunk", positiveInteger, 512)
    .option("--chunk-rows <n>", "rows of the output projection at a time", positiveInteger, 256)
    .addOption(threadsOption())
    .action((opts: BenchFlags & MemoryBenchOptions) =>
      report(opts, (log) => benchMemory({ ...opts, log }), describeMemoryBench),
    );

  benchCommand(
    bench,
    "curate",
    "dedupe + decontamination of 10,000 problems vs the five benchmarks, and a naive all-pairs baseline",
  )
    .option("--rows <n>", "problems", positiveInteger, 10_000)
    .option(
      "--baseline-rows <n>",
      "problems the naive baseline compares (then extrapolated)",
      positiveInteger,
      1000,
    )
    .action((opts: BenchFlags & { rows: number; baselineRows: number }) =>
      report(
        opts,
        (log) => benchCurate({ rows: opts.rows, baselineRows: opts.baselineRows, log }),
        describeCurateBench,
      ),
    );

  benchCommand(
    bench,
    "engine",
    "training steps of a ~10M-parameter Llama (or --model) vs a 1024^3 sgemm, and vs PyTorch with --peer torch",
  )
    .option("--steps <n>", "timed training steps (after one warm-up)", positiveInteger, 5)
    .addOption(threadsOption())
    .option("--batch <n>", "sequences per step", positiveInteger, 8)
    .option("--seq <n>", "tokens per sequence", positiveInteger, 256)
    .addOption(deviceOption())
    .option(
      "--model <dir>",
      "train this model folder (e.g. from `reasonrl model init`) instead of the built-in one",
    )
    .option("--lora-rank <n>", "with --model: LoRA rank, 0 for full fine-tuning", nonNegativeInteger, 16)
    .addOption(
      dtypeOption(
        "with --model and LoRA: storage of the frozen base matrices: f32 (default), f16, bf16 or q8_0",
      ),
    )
    .addOption(
      new Option("--peer <name>", "also run the same step in this framework, interleaved with ours").choices([
        "torch",
      ]),
    )
    .action((opts: BenchFlags & Omit<EngineBenchOptions, "log">) =>
      report(opts, (log) => benchEngine({ ...opts, log }), describeEngineBench),
    );

  benchCommand(bench, "verify", "verifier speed and correctness on the benchmarks' gold answers")
    .option("--workers <n>", "worker threads", positiveInteger, 2)
    .option(
      "--fixtures <file>",
      "instead: agreement per answer class with a labelled JSONL file (test/verify/fixtures/answer-classes.jsonl)",
    )
    .action((opts: BenchFlags & { workers: number; fixtures?: string }) => {
      const fixtures = opts.fixtures;
      if (fixtures === undefined)
        return report(opts, () => runVerifyBench({ workers: opts.workers }), describeVerifyBench);
      return report(
        opts,
        async () => ({ bench: "verify", fixtures, classes: answerClassAgreement(fixtures) }),
        (r) => describeClassAgreement(r.classes),
      );
    });

  benchCommand(
    bench,
    "generate",
    "greedy decoding tokens/s of a ~25M Qwen2 (or --model): our engine vs llama.cpp (batch 1 and 32), and training tokens/s",
  )
    .addOption(threadsOption("compute threads of both engines (default: 2)").default(2))
    .option("--tokens <n>", "new tokens per sequence", positiveInteger, 128)
    .option("--repeats <n>", "timed calls per side and batch size (the fastest counts)", positiveInteger, 2)
    .option("--batches <list>", "batch sizes, comma-separated", positiveIntegerList, [1, 32])
    .addOption(deviceOption())
    .option("--model <dir>", "decode with this model folder instead of the built-in one")
    .addOption(dtypeOption("storage of our model's matrices: f32 (default), f16, bf16 or q8_0"))
    .option("--no-llamacpp", "our engine only (no llama.cpp side)")
    .option("--train-steps <n>", "timed training steps of the same model; 0: none", nonNegativeInteger, 3)
    .action(
      (
        opts: BenchFlags & {
          threads: number;
          tokens: number;
          repeats: number;
          batches: number[];
          device?: DeviceName;
          model?: string;
          dtype?: WeightDType;
          llamacpp: boolean;
          trainSteps: number;
        },
      ) =>
        report(
          opts,
          (log) =>
            benchGenerate({
              threads: opts.threads,
              newTokens: opts.tokens,
              repeats: opts.repeats,
              batches: opts.batches,
              device: opts.device,
              model: opts.model,
              dtype: opts.dtype,
              llamacpp: opts.llamacpp,
              trainSteps: opts.trainSteps,
              log,
              warn: (line) => console.error(line),
            }),
          describeGenerateBench,
        ),
    );

  benchCommand(
    bench,
    "grpo",
    "GRPO steps of the demo configuration: step time split into generation / rewards / training",
  )
    .option("--steps <n>", "timed steps (after one warm-up; default 3)", positiveInteger)
    .addOption(
      new Option(
        "--rollout <where>",
        "fleet: a LoRA run with local rollouts vs rollouts on 2 reasonrl serve processes, and the adapter sync's cost",
      )
        .choices(["local", "fleet"])
        .default("local"),
    )
    .addOption(threadsOption())
    .addOption(deviceOption())
    .action(
      (
        opts: BenchFlags & { steps?: number; rollout: "local" | "fleet"; threads?: number; device?: string },
      ) =>
        opts.rollout === "fleet"
          ? report(
              opts,
              (log) => benchGrpoFleet({ steps: opts.steps, threads: opts.threads, device: opts.device, log }),
              describeGrpoFleetBench,
            )
          : report(
              opts,
              (log) => benchGrpo({ steps: opts.steps, threads: opts.threads, device: opts.device, log }),
              describeGrpoBench,
            ),
    );

  benchCommand(
    bench,
    "llama-server",
    "eval --endpoint against llama.cpp's llama-server and reasonrl serve on the same model: same greedy completions?",
  )
    .option(
      "--binary <path>",
      "llama-server (default $REASONRL_LLAMA_SERVER or ~/.cache/reasonrl/llama-server/llama-server)",
    )
    .addOption(threadsOption("compute threads of each server (default: 2)").default(2))
    .option("--problems <n>", "problems evaluated", positiveInteger, 8)
    .option("--max-tokens <n>", "new tokens at most per completion", positiveInteger, 48)
    .action((opts: BenchFlags & Omit<LlamaServerBenchOptions, "log">) =>
      report(opts, (log) => benchLlamaServer({ ...opts, log }), describeLlamaServerBench),
    );

  benchCommand(
    bench,
    "serve",
    "64 concurrent chat requests to reasonrl serve (~25M Qwen2) vs the same requests one at a time",
  )
    .addOption(threadsOption("compute threads (default: 2)").default(2))
    .option("--requests <n>", "requests per phase", positiveInteger, 64)
    .option("--tokens <n>", "new tokens per request", positiveInteger, 64)
    .option("--max-batch <n>", "the server's max batch", positiveInteger, 64)
    .option(
      "--temperature <t>",
      "sampling temperature (0: greedy; else seeded per request)",
      decimal({ min: 0 }),
      0,
    )
    .action(
      (
        opts: BenchFlags & {
          threads: number;
          requests: number;
          tokens: number;
          maxBatch: number;
          temperature: number;
        },
      ) =>
        report(
          opts,
          (log) =>
            benchServe({
              threads: opts.threads,
              requests: opts.requests,
              tokens: opts.tokens,
              maxBatch: opts.maxBatch,
              temperature: opts.temperature,
              log,
            }),
          describeServeBench,
        ),
    );
}
