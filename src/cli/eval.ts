/**
 * `reasonrl eval`: a model on the paper's benchmarks (src/eval), and
 * `reasonrl eval compare`: several result folders in one table.
 */
import { writeFile } from "node:fs/promises";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { BUILTIN_NAMES } from "../eval/benchmarks.ts";
import { evaluate } from "../eval/evaluate.ts";
import { readResults } from "../eval/results.ts";
import type { EvalHooks } from "../eval/runner.ts";
import { renderReport } from "../eval/table.ts";
import type { TargetSpec } from "../eval/targets.ts";
import { printResult } from "./output.ts";

const int = (v: string) => Number.parseInt(v, 10);
const list = (v: string) =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
const collect = (v: string, acc: string[]) => [...acc, v];

interface EvalFlags {
  model?: string;
  endpoint?: string;
  apiKey?: string;
  modelName?: string;
  gguf?: string;
  threads?: number;
  maxBatch?: number;
  timeout?: number;
  retries?: number;
  name?: string;
  benchmarks?: string[];
  benchmark: string[];
  dataDir?: string;
  cacheDir?: string;
  hubUrl?: string;
  prompt: string;
  system?: string;
  n: number;
  k?: string[];
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
  limit?: number;
  concurrency: number;
  out?: string;
  fresh?: boolean;
  skipBadRows?: boolean;
  json?: boolean;
}

/** The target of the flags: exactly one of --model, --endpoint, --gguf. */
function targetOf(o: EvalFlags): TargetSpec {
  const given = [o.model && "--model", o.endpoint && "--endpoint", o.gguf && "--gguf"].filter(Boolean);
  if (given.length !== 1)
    throw new Error(
      `give exactly one of --model DIR, --endpoint URL, --gguf FILE (got ${given.join(", ") || "none"})`,
    );
  if (o.model) return { kind: "local", dir: o.model, threads: o.threads, maxBatch: o.maxBatch };
  if (o.endpoint)
    return {
      kind: "endpoint",
      url: o.endpoint,
      apiKey: o.apiKey ?? process.env.OPENAI_API_KEY,
      model: o.modelName,
      concurrency: o.concurrency,
      timeoutMs: o.timeout === undefined ? undefined : o.timeout * 1000,
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

/** Progress as a bar with ETA on a terminal (stderr), else a plain line every ~10 s. */
function progressDisplay(): EvalHooks & { log(message: string): void; done(): void } {
  const tty = Boolean(process.stderr.isTTY);
  let bar: cliProgress.SingleBar | null = null;
  let started = 0;
  let lastLine = 0;
  return {
    log: (message) => {
      if (bar) bar.stop();
      console.error(message);
      bar = null;
    },
    onStart: (todo, cached) => {
      started = performance.now();
      if (todo === 0) return;
      if (tty) {
        bar = new cliProgress.SingleBar(
          {
            format:
              "eval [{bar}] {value}/{total} samples | {benchmark} | {duration_formatted} | ETA {eta_formatted}",
            stream: process.stderr,
            hideCursor: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(todo, 0, { benchmark: "" });
      } else console.error(`eval: ${todo} samples to generate (${cached} cached)`);
    },
    onProgress: (done, todo, benchmark) => {
      if (bar) bar.update(done, { benchmark });
      else {
        const now = performance.now();
        if (done < todo && now - lastLine < 10_000) return;
        lastLine = now;
        const elapsed = (now - started) / 1000;
        const eta = done > 0 ? (elapsed / done) * (todo - done) : Number.NaN;
        console.error(
          `eval ${done}/${todo} samples (${benchmark}), ${elapsed.toFixed(0)} s, eta ${Number.isFinite(eta) ? `${eta.toFixed(0)} s` : "-"}`,
        );
      }
    },
    done: () => {
      bar?.stop();
      bar = null;
    },
  };
}

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
    .option("--gguf <file>", "a GGUF file, run in llama.cpp")
    .option("--threads <n>", "compute threads of --model / --gguf (default: all cores)", int)
    .option("--max-batch <n>", "sequences decoded together (--model; --gguf: parallel sequences)", int)
    .option("--timeout <s>", "time limit of one endpoint request, seconds", Number.parseFloat)
    .option("--retries <n>", "retries of a failed endpoint request (with backoff)", int)
    .option("--name <label>", "row label in the tables (default: the model's name)")
    .option("--benchmarks <list>", `built-in benchmarks, comma-separated (default: all)`, list)
    .option(
      "--benchmark <file.jsonl>",
      "a custom benchmark: JSONL with problem and answer (repeatable)",
      collect,
      [],
    )
    .option(
      "--data-dir <dir>",
      "read <name>.jsonl or <name>.parquet from here instead of the Hugging Face hub",
    )
    .option(
      "--cache-dir <dir>",
      "hub download cache (default $REASONRL_DATASETS or ~/.cache/reasonrl/datasets)",
    )
    .option("--hub-url <url>", "Hugging Face hub address (a mirror; default $HF_ENDPOINT)")
    .option(
      "--prompt <name|file>",
      "lighteval (the paper's), deepseek, or a template file with {problem}",
      "lighteval",
    )
    .option("--system <text>", "a system prompt (default: none, as the paper)")
    .option("--n <n>", "samples per problem", int, 1)
    .option("--k <list>", "k values of pass@k and maj@k (default: powers of two up to n, and n)", list)
    .option("--temperature <t>", "sampling temperature (0: greedy)", Number.parseFloat, 0.6)
    .option("--top-p <p>", "nucleus sampling", Number.parseFloat, 0.95)
    .option("--max-tokens <n>", "new tokens at most per completion", int, 32768)
    .option("--seed <n>", "sampling seed", int, 1234)
    .option("--limit <n>", "only the first N problems of each benchmark", int)
    .option("--concurrency <n>", "problems per generation call (endpoint: requests in flight)", int, 8)
    .option("--out <dir>", "output folder (default runs/eval/<model>); rerun to resume")
    .option("--fresh", "discard the samples already in the output folder")
    .option("--skip-bad-rows", "leave out unusable data rows (reported) instead of stopping")
    .option("--json", "print only the JSON results")
    .action(async (o: EvalFlags) => {
      const target = targetOf(o);
      const progress = progressDisplay();
      const quiet = Boolean(o.json);
      const { results, out } = await evaluate(
        target,
        {
          name: o.name,
          benchmarks: o.benchmarks,
          customBenchmarks: o.benchmark,
          dataDir: o.dataDir,
          cacheDir: o.cacheDir,
          hubUrl: o.hubUrl,
          prompt: o.prompt,
          system: o.system,
          n: o.n,
          k: o.k?.map(int),
          temperature: o.temperature,
          topP: o.topP,
          maxTokens: o.maxTokens,
          seed: o.seed,
          limit: o.limit,
          concurrency: o.concurrency,
          out: o.out,
          fresh: o.fresh,
          skipBadRows: o.skipBadRows,
        },
        {
          ...progress,
          log: (m) => (quiet ? undefined : progress.log(m)),
          warn: (m) => progress.log(`warning: ${m}`),
        },
      ).finally(() => progress.done());
      const text = `${renderReport([results])}\nwrote ${out}/results.json, table.md, samples.jsonl`;
      printResult({ out, ...results }, o, text);
    });

  evalCommand
    .command("compare")
    .description("put several eval result folders into one table")
    .argument("<dirs...>", "result folders (or results.json files)")
    .option("--metric <name>", "only this metric (e.g. pass@1, pass@16, maj@16); default: all shared ones")
    .option("--out <file>", "also write the table to this file")
    .option("--json", "print only the JSON rows")
    .action(async (dirs: string[], _o, command: Command) => {
      // --out and --json are also eval's own flags; commander hands them to the parent.
      const o = command.optsWithGlobals() as { metric?: string; out?: string; json?: boolean };
      const all = await Promise.all(dirs.map((d) => readResults(d)));
      const table = renderReport(all, o.metric);
      if (o.out) await writeFile(o.out, table);
      const rows = all.map((r) => ({
        model: r.model,
        benchmarks: Object.fromEntries(r.benchmarks.map((b) => [b.name, b.metrics])),
        average: r.average,
        settings: r.settings,
      }));
      printResult({ rows, ...(o.out ? { out: o.out } : {}) }, o, table);
    });
}
