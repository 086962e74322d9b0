/**
 * One evaluation from start to end, as `reasonrl eval` runs it:
 *
 * 1. load the benchmarks (data errors surface before any model is loaded);
 * 2. open the output folder: run.json records the settings that shape the
 *    samples, and a folder holding samples of other settings is refused
 *    (unless `fresh`), so cached samples are never mixed across settings;
 * 3. open the target and generate, grade and cache the missing samples
 *    (runner.ts);
 * 4. write results.json and table.md, and rewrite samples.jsonl in order.
 *
 * Output folder: run.json, samples.jsonl, results.json, table.md.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { z } from "zod";
import type { ChatGenerator } from "../generate/types.ts";
import { writeFileAtomic } from "../model/safetensors-write.ts";
import { VerifierPool } from "../verify/pool.ts";
import {
  type Benchmark,
  type BenchmarkSpec,
  BUILTIN_NAMES,
  builtinBenchmark,
  customBenchmarkSpec,
  loadBenchmark,
} from "./benchmarks.ts";
import { defaultKs } from "./metrics.ts";
import { resolvePromptTemplate } from "./prompts.ts";
import { buildResults, type EvalResults } from "./results.ts";
import { type EvalHooks, EvalSettings, runEvaluation } from "./runner.ts";
import { SampleStore } from "./samples.ts";
import { renderReport } from "./table.ts";
import { openedTarget, openTarget, type TargetSpec } from "./targets.ts";

/** The options of an evaluation (the CLI's flags, checked). */
export const EvaluateOptions = EvalSettings.omit({ promptTemplate: true }).extend({
  /** Built-in benchmarks by name (default: all five, unless custom ones are given). */
  benchmarks: z.array(z.string()).optional(),
  /** Custom benchmarks: JSONL files with `problem` and `answer` fields. */
  customBenchmarks: z.array(z.string()).default([]),
  /** Folder of <name>.jsonl / <name>.parquet files (else the hub is used). */
  dataDir: z.string().optional(),
  /** Hub dataset cache (default $REASONRL_DATASETS, else ~/.cache/reasonrl/datasets). */
  cacheDir: z.string().optional(),
  /** The hub's address (a mirror; default $HF_ENDPOINT or https://huggingface.co). */
  hubUrl: z.string().optional(),
  /** "lighteval" (the paper's), "deepseek", or a template file with {problem}. */
  prompt: z.string().default("lighteval"),
  /** k values of pass@k and maj@k (those above n are left out; default: powers of two up to n, and n). */
  k: z.array(z.number().int().positive()).optional(),
  /** Only the first N problems of each benchmark. */
  limit: z.number().int().positive().optional(),
  /** Output folder (default runs/eval/<model>). */
  out: z.string().optional(),
  /** The row label in tables (default: the model folder's or file's name, or the endpoint's model). */
  name: z.string().optional(),
  /** Discard the samples already in the output folder. */
  fresh: z.boolean().default(false),
  /** Leave out unusable data rows (reported) instead of stopping. */
  skipBadRows: z.boolean().default(false),
});
export type EvaluateOptions = z.input<typeof EvaluateOptions>;

/** Messages and progress of an evaluation, and an optional verifier pool to share. */
export interface EvaluateHooks extends EvalHooks {
  log?(message: string): void;
  warn?(message: string): void;
  /** Grade in this pool (left open) instead of a pool of the evaluation's own. */
  pool?: VerifierPool;
}

/** The target's label and a description of it that identifies its samples. */
function describeTarget(target: TargetSpec | ChatGenerator): { label: string; identity: string } {
  if ("chat" in target) return { label: target.name, identity: target.name };
  switch (target.kind) {
    case "local":
      return { label: basename(resolve(target.dir)), identity: `local ${resolve(target.dir)}` };
    case "gguf":
      return {
        label: basename(target.file).replace(/\.gguf$/i, ""),
        identity: `gguf ${resolve(target.file)}`,
      };
    case "endpoint":
      if (!URL.canParse(target.url)) throw new Error(`endpoint ${target.url} is not a URL`);
      return {
        label: target.model ?? new URL(target.url).host,
        identity: `endpoint ${target.url} ${target.model ?? ""}`.trim(),
      };
  }
}

/** A folder-safe form of a label. */
function slug(label: string): string {
  return label.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "") || "model";
}

/**
 * Runs an evaluation of `target` (a TargetSpec, or a ChatGenerator already open) and writes its
 * output folder. Returns the results and the folder. Kept in one piece (over 80 lines) so the
 * evaluation reads in the order ARCHITECTURE.md gives: benchmarks, folder, sampling, numbers.
 */
export async function evaluate(
  target: TargetSpec | ChatGenerator,
  input: EvaluateOptions,
  hooks: EvaluateHooks = {},
): Promise<{ results: EvalResults; out: string }> {
  const parsed = EvaluateOptions.safeParse(input);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`);
    throw new Error(`eval options: ${why.join("; ")}`);
  }
  const o = parsed.data;
  const log = hooks.log ?? (() => {});
  const warn = hooks.warn ?? console.warn;
  const promptTemplate = resolvePromptTemplate(o.prompt);
  const { label, identity } = describeTarget(target);
  const model = o.name ?? label;
  const out = o.out ?? join("runs", "eval", slug(model));
  if (o.temperature === 0 && o.n > 1)
    warn(`temperature 0 (greedy) with n ${o.n}: the samples will be identical`);
  const tooLarge = (o.k ?? []).filter((k) => k > o.n);
  if (tooLarge.length > 0) warn(`k ${tooLarge.join(", ")} left out: pass@k and maj@k need k <= n (${o.n})`);

  // 1. The benchmarks.
  const specs: Array<{ spec: BenchmarkSpec; path?: string }> = [
    ...(o.benchmarks ?? (o.customBenchmarks.length > 0 ? [] : BUILTIN_NAMES)).map((name) => ({
      spec: builtinBenchmark(name),
    })),
    ...o.customBenchmarks.map((path) => ({ spec: customBenchmarkSpec(path), path })),
  ];
  const names = specs.map((s) => s.spec.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`benchmark "${dup}" is given twice`);
  const benchmarks: Benchmark[] = [];
  for (const { spec, path } of specs) {
    const b = await loadBenchmark(spec, {
      path,
      dataDir: o.dataDir,
      cacheDir: o.cacheDir,
      hubUrl: o.hubUrl,
      log,
      onBadRow: o.skipBadRows ? "skip" : "error",
      warn,
    });
    if (o.limit) b.problems = b.problems.slice(0, o.limit);
    log(`${b.name}: ${b.problems.length} problems from ${b.source}`);
    benchmarks.push(b);
  }

  // 2. The output folder and its sample cache.
  await mkdir(out, { recursive: true });
  const run = {
    target: identity,
    prompt_template: promptTemplate,
    system: o.system ?? null,
    temperature: o.temperature,
    top_p: o.topP,
    max_tokens: o.maxTokens,
    seed: o.seed,
  };
  const samplesPath = join(out, "samples.jsonl");
  const runPath = join(out, "run.json");
  if (o.fresh) await rm(samplesPath, { force: true });
  else if (existsSync(samplesPath) && existsSync(runPath)) {
    const before = JSON.parse(await readFile(runPath, "utf8")) as Record<string, unknown>;
    const changed = Object.keys(run).filter(
      (k) => JSON.stringify(before[k] ?? null) !== JSON.stringify(run[k as keyof typeof run]),
    );
    if (changed.length > 0)
      throw new Error(
        `${out} holds samples made with other settings (${changed.join(", ")} differ); ` +
          "use another output folder, or start fresh to discard them",
      );
  }
  await writeFileAtomic(runPath, `${JSON.stringify(run, null, 2)}\n`);
  const store = await SampleStore.open(samplesPath);
  if (store.dropped > 0)
    warn(`${samplesPath}: ${store.dropped} broken line(s) dropped (an interrupted write)`);
  if (store.size > 0) log(`${out}: ${store.size} cached sample(s) found; only missing samples are generated`);

  // 3. Generate, grade, cache.
  const opened = "chat" in target ? openedTarget(target) : await openTarget(target);
  const pool = hooks.pool ?? new VerifierPool();
  let outcome: Awaited<ReturnType<typeof runEvaluation>>;
  try {
    // An endpoint gets one problem per call, --concurrency calls in flight (the client's own limit).
    const calls =
      "kind" in target && target.kind === "endpoint" ? { concurrency: 1, parallelCalls: o.concurrency } : {};
    outcome = await runEvaluation(
      opened.generator,
      benchmarks,
      { ...o, promptTemplate, ...calls },
      store,
      pool,
      hooks,
    );
  } finally {
    if (!hooks.pool) await pool.close();
    await opened.dispose();
  }

  // 4. Reports.
  const results = buildResults({
    model,
    target: opened.generator.name,
    settings: {
      prompt: o.prompt,
      system: o.system ?? null,
      n: o.n,
      k: [...new Set(o.k ?? defaultKs(o.n))].sort((a, b) => a - b),
      temperature: o.temperature,
      top_p: o.topP,
      max_tokens: o.maxTokens,
      seed: o.seed,
      limit: o.limit ?? null,
    },
    benchmarks,
    samples: outcome.samples,
    stats: outcome.stats,
  });
  await writeFileAtomic(join(out, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  await writeFileAtomic(join(out, "table.md"), renderReport([results]));
  await store.rewrite(
    benchmarks.flatMap((b) => b.problems.map((p) => ({ benchmark: b.name, problemId: p.id }))),
  );
  return { results, out };
}
