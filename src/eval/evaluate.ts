/**
 * One evaluation from start to end, as `reasonrl eval` runs it:
 *
 * 1. load the benchmarks (data errors surface before any model is loaded);
 * 2. identify the model (identity.ts: a server is asked which model it serves,
 *    a local model's files are fingerprinted) and name it;
 * 3. open the output folder: run.json records the model's identity and the
 *    settings that shape the samples, and a folder holding samples of another
 *    model or other settings is refused (unless `fresh`), so cached samples
 *    are never mixed or reused across them;
 * 4. open the target and generate, grade and cache the missing samples
 *    (runner.ts);
 * 5. write results.json and table.md, and rewrite samples.jsonl in order.
 *
 * What run.json leaves out, on purpose: n (more samples later reuse the first
 * ones; each is a draw of the same distribution), --limit, and how fast the
 * samples are made (threads, device, batch sizes, concurrency). A problem's
 * text is tied to its samples one by one (samples.ts), its gold answer
 * regrades them (runner.ts).
 *
 * Output folder: run.json, samples.jsonl, results.json, table.md, and run.sqlite (a run store,
 * src/track/store.ts: kind "eval", every sample as eval_samples at step 0, results.json in meta).
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { OpenAIChatGenerator } from "../generate/openai-client.ts";
import type { ChatGenerator } from "../generate/types.ts";
import { writeFileAtomic } from "../model/safetensors-write.ts";
import { Tokenizer } from "../model/tokenizer.ts";
import { RunStore, STORE_FILE } from "../track/store.ts";
import { VerifierPool } from "../verify/pool.ts";
import {
  type Benchmark,
  type BenchmarkSpec,
  BUILTIN_NAMES,
  builtinBenchmark,
  customBenchmarkSpec,
  loadBenchmark,
} from "./benchmarks.ts";
import { fileFingerprint, modelFolderFingerprint, pathLabel, servedModelLabel } from "./identity.ts";
import { defaultKs } from "./metrics.ts";
import { resolvePromptTemplate } from "./prompts.ts";
import { buildResults, type EvalResults } from "./results.ts";
import { type EvalHooks, EvalSettings, runEvaluation } from "./runner.ts";
import { samplerOf } from "./sampler.ts";
import { type SampleRecord, SampleStore } from "./samples.ts";
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
  /**
   * A model folder whose tokenizer counts an endpoint's completion tokens where the server gives
   * no count per completion (the text as it encodes it, an end-of-sequence token not counted);
   * without it such counts are unknown.
   */
  tokenizer: z.string().optional(),
  /** Discard the samples already in the output folder. */
  fresh: z.boolean().default(false),
  /** Leave out unusable data rows (reported) instead of stopping. */
  skipBadRows: z.boolean().default(false),
});
export type EvaluateOptions = z.input<typeof EvaluateOptions>;

/** Messages and progress of an evaluation, a stop signal, and an optional verifier pool to share. */
export interface EvaluateHooks extends EvalHooks {
  log?(message: string): void;
  warn?(message: string): void;
  /** Grade in this pool (left open) instead of a pool of the evaluation's own. */
  pool?: VerifierPool;
}

/** How an evaluation ended: with its results, or stopped (hooks.signal) with samples kept. */
export type EvaluateOutcome =
  | { stopped: false; results: EvalResults; out: string }
  | {
      stopped: true;
      out: string;
      /** Samples of this evaluation in the folder's cache (a rerun generates only the others). */
      samplesKept: number;
      samplesTotal: number;
    };

/** Who made the samples (compared across reruns) and what to call it; an endpoint's model resolved. */
interface Identified {
  label: string;
  identity: Record<string, unknown>;
  target: TargetSpec | ChatGenerator;
}

/**
 * The identity and label of `target` (see identity.ts). An endpoint becomes its client, asked
 * for its model; the client tells `log` what it learns about the server.
 */
async function identify(
  target: TargetSpec | ChatGenerator,
  log: (m: string) => void,
  countTokens?: (text: string) => number,
): Promise<Identified> {
  if ("chat" in target) {
    if (!(target instanceof OpenAIChatGenerator))
      return { label: target.name, identity: { kind: "generator", name: target.name }, target };
    const model = await target.resolveModel();
    const identity = { kind: "endpoint", url: target.baseUrl, model };
    return { label: servedModelLabel(model), identity, target };
  }
  switch (target.kind) {
    case "local": {
      const weights = await modelFolderFingerprint(target.dir);
      const identity = { kind: "local", weights, dtype: target.dtype ?? "f32" };
      return { label: pathLabel(target.dir), identity, target };
    }
    case "gguf":
      return {
        label: pathLabel(target.file),
        identity: { kind: "gguf", file: await fileFingerprint(target.file) },
        target,
      };
    case "endpoint": {
      if (!URL.canParse(target.url)) throw new Error(`endpoint ${target.url} is not a URL`);
      const client = new OpenAIChatGenerator({
        baseUrl: target.url,
        log,
        ...(countTokens ? { countTokens } : {}),
        ...(target.apiKey ? { apiKey: target.apiKey } : {}),
        ...(target.model ? { model: target.model } : {}),
        ...(target.concurrency ? { concurrency: target.concurrency } : {}),
        ...(target.timeoutMs ? { timeoutMs: target.timeoutMs } : {}),
        ...(target.retries !== undefined ? { retries: target.retries } : {}),
      });
      return identify(client, log);
    }
  }
}

/** A folder-safe form of a label. */
function slug(label: string): string {
  return label.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "") || "model";
}

/** The keys of two run.json objects whose values differ, nested keys dotted, as "key: old -> new". */
function differences(before: Record<string, unknown>, now: Record<string, unknown>, prefix = ""): string[] {
  const out: string[] = [];
  for (const key of new Set([...Object.keys(before), ...Object.keys(now)])) {
    const [a, b] = [before[key] ?? null, now[key] ?? null];
    const nested = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
    if (nested(a) && nested(b))
      out.push(
        ...differences(a as Record<string, unknown>, b as Record<string, unknown>, `${prefix}${key}.`),
      );
    else if (JSON.stringify(a) !== JSON.stringify(b))
      out.push(`${prefix}${key}: ${short(JSON.stringify(a))} -> ${short(JSON.stringify(b))}`);
  }
  return out;
}

function short(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

/**
 * Opens the output folder's sample cache for `run` (run.json): refuses a folder with samples of
 * another identity or other settings, unless `fresh` discards them.
 */
async function openCache(out: string, run: Record<string, unknown>, fresh: boolean): Promise<SampleStore> {
  await mkdir(out, { recursive: true });
  const samplesPath = join(out, "samples.jsonl");
  const runPath = join(out, "run.json");
  if (fresh) await rm(samplesPath, { force: true });
  else if (existsSync(samplesPath)) {
    const before = existsSync(runPath)
      ? (JSON.parse(await readFile(runPath, "utf8")) as Record<string, unknown>)
      : {};
    const changed = differences(before, run);
    if (changed.length > 0)
      throw new Error(
        `${out} holds samples made by another model or with other settings (${changed.join("; ")}); ` +
          "use another output folder (--out), or --fresh to discard them",
      );
  }
  await writeFileAtomic(runPath, `${JSON.stringify(run, null, 2)}\n`);
  return SampleStore.open(samplesPath);
}

/** The evaluation as a run store in `out` (browsable as runs are): its samples replace those of an earlier run. */
function writeRunStore(
  out: string,
  model: string,
  results: EvalResults,
  benchmarks: readonly Benchmark[],
  samples: Map<string, SampleRecord[][]>,
): void {
  const store = RunStore.open(join(out, STORE_FILE), {
    kind: "eval",
    name: model,
    config: JSON.stringify(results.settings),
    model: results.target,
  });
  try {
    store.setMeta("results", JSON.stringify(results));
    const rows = benchmarks.flatMap((b) =>
      b.problems.flatMap((p, problem) =>
        (samples.get(b.name)?.[problem] ?? []).map((s) => ({
          benchmark: b.name,
          problem,
          problemId: p.id,
          sample: s.sample,
          prompt: p.problem,
          completion: s.completion,
          answer: s.answer,
          gold: s.gold,
          correct: s.correct,
          tokens: s.tokens,
          finishReason: s.finish_reason,
        })),
      ),
    );
    store.writeEvalSamples(0, rows);
  } finally {
    store.close();
  }
}

/**
 * Runs an evaluation of `target` (a TargetSpec, or a ChatGenerator already open) and writes its
 * output folder. Returns the results and the folder, or, when `hooks.signal` stopped it, what
 * was kept. Kept in one piece (over 80 lines) so the evaluation reads in the order of the
 * file's comment: benchmarks, identity, folder, sampling, numbers.
 */
export async function evaluate(
  target: TargetSpec | ChatGenerator,
  input: EvaluateOptions,
  hooks: EvaluateHooks = {},
): Promise<EvaluateOutcome> {
  const parsed = EvaluateOptions.safeParse(input);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`);
    throw new Error(`eval options: ${why.join("; ")}`);
  }
  const o = parsed.data;
  const log = hooks.log ?? (() => {});
  const warn = hooks.warn ?? console.warn;
  const promptTemplate = resolvePromptTemplate(o.prompt);
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

  // 2. The model: its identity and name.
  let countTokens: ((text: string) => number) | undefined;
  if (o.tokenizer) {
    const tokenizer = Tokenizer.fromDir(o.tokenizer);
    countTokens = (text) => tokenizer.encode(text, { addSpecialTokens: false }).length;
  }
  const identified = await identify(target, warn, countTokens);
  const model = o.name ?? identified.label;
  const out = o.out ?? join("runs", "eval", slug(model));

  // 3. The output folder and its sample cache.
  const store = await openCache(
    out,
    {
      target: identified.identity,
      prompt_template: promptTemplate,
      system: o.system ?? null,
      temperature: o.temperature,
      top_p: o.topP,
      max_tokens: o.maxTokens,
      seed: o.seed,
    },
    o.fresh,
  );
  if (store.dropped > 0)
    warn(`${store.path}: ${store.dropped} broken line(s) dropped (an interrupted write)`);
  if (store.size > 0) log(`${out}: ${store.size} cached sample(s) found; only missing samples are generated`);

  // 4. Generate, grade, cache.
  const spec = identified.target;
  const opened = "chat" in spec ? openedTarget(spec) : await openTarget(spec);
  const pool = hooks.pool ?? new VerifierPool();
  let outcome: Awaited<ReturnType<typeof runEvaluation>>;
  try {
    // An endpoint gets one problem per call, --concurrency calls in flight (the client's own limit).
    const calls = spec instanceof OpenAIChatGenerator ? { concurrency: 1, parallelCalls: o.concurrency } : {};
    outcome = await runEvaluation(
      samplerOf(opened.generator),
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
  if (outcome.stopped) {
    const problems = benchmarks.flatMap((b) => b.problems.map((p) => store.samples(b.name, p.id)));
    const samplesKept = problems
      .flatMap((cached) => [...cached.values()])
      .filter((r) => r.sample < o.n && r.error === undefined).length;
    return { stopped: true, out, samplesKept, samplesTotal: problems.length * o.n };
  }

  // 5. Reports.
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
  writeRunStore(out, model, results, benchmarks, outcome.samples);
  if (results.failed_samples > 0)
    warn(
      `${results.failed_samples} sample(s) failed and count as wrong (see table.md); rerun the same command to ask for them again`,
    );
  return { stopped: false, results, out };
}
