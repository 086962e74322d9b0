/**
 * `reasonrl eval`: a model on the paper's benchmarks (src/eval), and
 * `reasonrl eval compare`: several result folders in one table.
 */
import type { Command } from "commander";
import { BUILTIN_NAMES } from "../eval/benchmarks.ts";
import { evaluate } from "../eval/evaluate.ts";
import { readResults } from "../eval/results.ts";
import type { EvalHooks } from "../eval/runner.ts";
import { renderReport } from "../eval/table.ts";
import type { TargetSpec } from "../eval/targets.ts";
import { writeFileAtomic } from "../model/safetensors-write.ts";
import { stopOnCtrlC } from "./interrupt.ts";
import {
  commaList,
  concurrencyOption,
  type DeviceName,
  datasetsOption,
  decimal,
  deviceOption,
  dtypeOption,
  frozenDType,
  integer,
  jsonOption,
  nonNegativeInteger,
  positiveInteger,
  repeatable,
  threadsOption,
  timeoutMs,
  timeoutOption,
  type WeightDType,
} from "./options.ts";
import { fail, type JsonFlag, printResult } from "./output.ts";
import { ProgressBar } from "./progress.ts";

interface EvalFlags extends JsonFlag {
  model?: string;
  endpoint?: string;
  apiKey?: string;
  modelName?: string;
  tokenizer?: string;
  gguf?: string;
  threads?: number;
  device?: DeviceName;
  dtype?: WeightDType;
  maxBatch?: number;
  timeout?: number;
  retries?: number;
  name?: string;
  benchmarks?: string[];
  benchmark: string[];
  dataDir?: string;
  datasets?: string;
  hubUrl?: string;
  prompt: string;
  system?: string;
  n: number;
  k?: number[];
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
  limit?: number;
  concurrency: number;
  out?: string;
  fresh?: boolean;
  skipBadRows?: boolean;
}

/** The target of the flags: exactly one of --model, --endpoint, --gguf. */
function targetOf(o: EvalFlags): TargetSpec {
  const given = [o.model && "--model", o.endpoint && "--endpoint", o.gguf && "--gguf"].filter(Boolean);
  if (given.length !== 1)
    fail(`give exactly one of --model DIR, --endpoint URL, --gguf FILE (got ${given.join(", ") || "none"})`);
  if (o.tokenizer && !o.endpoint)
    fail("--tokenizer counts the tokens of an --endpoint's completions: give it with --endpoint");
  if (o.model)
    return {
      kind: "local",
      dir: o.model,
      threads: o.threads,
      device: o.device,
      dtype: frozenDType(o.dtype),
      maxBatch: o.maxBatch,
    };
  if (o.endpoint)
    return {
      kind: "endpoint",
      url: o.endpoint,
      apiKey: o.apiKey ?? process.env.OPENAI_API_KEY,
      model: o.modelName,
      concurrency: o.concurrency,
      timeoutMs: timeoutMs(o.timeout),
      retries: o.retries,
    };
  return {
    kind: "gguf",
    file: o.gguf as string,
    threads: o.threads,
    // A sequence holds the prompt and the completion; the benchmarks' prompts stay under 2,048 tokens.
    contextSize: o.maxTokens + 2048,
    sequences: o.maxBatch,
  };
}

/** Progress as a bar with ETA on a terminal, else a plain line every ~10 s; on stderr, silent with --json. */
function progressDisplay(
  quiet: boolean,
): EvalHooks & { log(message: string): void; warn(message: string): void; done(): void } {
  const bar = new ProgressBar({
    quiet,
    format: "[{bar}] {value}/{total} samples | {info} | {duration_formatted} | ETA {eta_formatted}",
    plainEveryMs: 10_000,
  });
  return {
    log: (message) => bar.log(message),
    warn: (message) => bar.warn(message),
    onStart: (todo, cached) => {
      if (todo === 0) return;
      bar.log(`eval: ${todo} samples to generate (${cached} cached)`);
      bar.start("eval", todo);
    },
    onProgress: (done, _todo, benchmark) => bar.update(done, benchmark),
    done: () => bar.done(),
  };
}

/** Registers `reasonrl eval` and `eval compare`. Long by nature: their declarative option lists, no logic. */
export function register(program: Command): void {
  const evalCommand = program
    .command("eval")
    .description(
      `evaluate a model on math benchmarks (${BUILTIN_NAMES.join(", ")}); writes results.json, table.md, samples.jsonl`,
    )
    .option("--model <dir>", "a local model folder (Hugging Face layout)")
    .option("--endpoint <url>", "an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    .option("--api-key <key>", "bearer key of the endpoint (default $OPENAI_API_KEY)")
    .option("--model-name <name>", "model to ask the endpoint for (default: the first it lists)")
    .option(
      "--tokenizer <dir>",
      "a model folder whose tokenizer counts --endpoint's completion tokens when the server does not (else unknown)",
    )
    .option("--gguf <file>", "a GGUF file, run in llama.cpp")
    .addOption(threadsOption("compute threads of --model / --gguf (default: all cores)"))
    .addOption(
      deviceOption("compute device of --model: cpu, vulkan[:N], cuda[:N], metal or auto (default: cpu)"),
    )
    .addOption(dtypeOption("storage of --model's weight matrices: f32, f16, bf16 or q8_0 (default: f32)"))
    .option(
      "--max-batch <n>",
      "sequences decoded together (--model; --gguf: parallel sequences)",
      positiveInteger,
    )
    .addOption(timeoutOption("one endpoint request"))
    .option("--retries <n>", "retries of a failed endpoint request (with backoff)", nonNegativeInteger)
    .option("--name <label>", "row label in the tables (default: the model's name)")
    .option("--benchmarks <list>", "built-in benchmarks, comma-separated (default: all)", commaList)
    .option(
      "--benchmark <file.jsonl>",
      "a custom benchmark: JSONL with problem and answer (repeatable)",
      repeatable,
      [],
    )
    .option(
      "--data-dir <dir>",
      "read <name>.jsonl or <name>.parquet from here instead of the Hugging Face hub",
    )
    .addOption(datasetsOption())
    .option("--hub-url <url>", "Hugging Face hub address (a mirror; default $HF_ENDPOINT)")
    .option(
      "--prompt <name|file>",
      "lighteval (the paper's), deepseek, or a template file with {problem}",
      "lighteval",
    )
    .option("--system <text>", "a system prompt (default: none, as the paper)")
    .option("--n <n>", "samples per problem", positiveInteger, 1)
    .option("--k <list>", "k values of pass@k and maj@k (default: powers of two up to n, and n)", (v) =>
      commaList(v).map((k) => positiveInteger(k)),
    )
    .option("--temperature <t>", "sampling temperature (0: greedy)", decimal({ min: 0 }), 0.6)
    .option("--top-p <p>", "nucleus sampling", decimal({ min: 0, max: 1 }), 0.95)
    .option("--max-tokens <n>", "new tokens at most per completion", positiveInteger, 32768)
    .option("--seed <n>", "sampling seed", integer(), 1234)
    .option("--limit <n>", "only the first N problems of each benchmark", positiveInteger)
    .addOption(concurrencyOption(8))
    .option("--out <dir>", "output folder (default runs/eval/<model>); rerun to resume")
    .option("--fresh", "discard the samples already in the output folder")
    .option("--skip-bad-rows", "leave out unusable data rows (reported) instead of stopping")
    .addOption(jsonOption("print only the JSON results"))
    .action(async (o: EvalFlags) => {
      const target = targetOf(o);
      const progress = progressDisplay(Boolean(o.json));
      // Ctrl-C: no new generation call starts, an endpoint's requests in flight are cut; what is
      // cached stays for a rerun (the command then exits with status 130).
      const notice = () =>
        progress.warn("stopping: the samples generated so far are kept (Ctrl-C again to quit at once)");
      const outcome = await stopOnCtrlC(notice, (signal) =>
        evaluate(
          target,
          {
            name: o.name,
            benchmarks: o.benchmarks,
            customBenchmarks: o.benchmark,
            dataDir: o.dataDir,
            cacheDir: o.datasets,
            hubUrl: o.hubUrl,
            prompt: o.prompt,
            system: o.system,
            n: o.n,
            k: o.k,
            temperature: o.temperature,
            topP: o.topP,
            maxTokens: o.maxTokens,
            seed: o.seed,
            limit: o.limit,
            concurrency: o.concurrency,
            out: o.out,
            fresh: o.fresh,
            tokenizer: o.tokenizer,
            skipBadRows: o.skipBadRows,
          },
          {
            ...progress,
            log: (m) => progress.log(m),
            warn: (m) => progress.warn(`warning: ${m}`),
            signal,
          },
        ).finally(() => progress.done()),
      );
      if (outcome.stopped) {
        const { out, samplesKept, samplesTotal } = outcome;
        const text =
          `eval stopped: ${samplesKept} of ${samplesTotal} samples are kept in ${out}/samples.jsonl; ` +
          "run the same command again to resume (only the missing samples are generated)";
        printResult({ stopped: true, out, samples_kept: samplesKept, samples_total: samplesTotal }, o, text);
        return;
      }
      const { results, out } = outcome;
      const text = `${renderReport([results])}\nwrote ${out}/results.json, table.md, samples.jsonl`;
      printResult({ out, ...results }, o, text);
    });

  evalCommand
    .command("compare")
    .description("put several eval result folders into one table")
    .argument("<dirs...>", "result folders (or results.json files)")
    .option("--metric <name>", "only this metric (e.g. pass@1, pass@16, maj@16); default: all shared ones")
    .option("--out <file>", "also write the table to this file")
    .addOption(jsonOption("print only the JSON rows"))
    .action(async (dirs: string[], _o, command: Command) => {
      // --out and --json are also eval's own flags; commander hands them to the parent.
      const o = command.optsWithGlobals() as { metric?: string; out?: string; json?: boolean };
      const all = await Promise.all(dirs.map((d) => readResults(d)));
      const table = renderReport(all, o.metric);
      // Whole or not at all: a temp file beside --out, renamed over it.
      if (o.out) await writeFileAtomic(o.out, table);
      const rows = all.map((r) => ({
        model: r.model,
        benchmarks: Object.fromEntries(r.benchmarks.map((b) => [b.name, b.metrics])),
        average: r.average,
        failed_samples: r.failed_samples ?? 0,
        settings: r.settings,
      }));
      printResult({ rows, ...(o.out ? { out: o.out } : {}) }, o, table);
    });
}
