/**
 * `judge`: an LLM keeps or drops each problem, like the paper's
 * Qwen2.5-7B-Instruct filter of open-s1 ("noisy" and multi-part problems
 * removed, 21,533 -> 18,615). The model is usually an OpenAI-compatible
 * endpoint (vLLM, SGLang, llama.cpp's server, Ollama, `reasonrl serve`, a
 * hosted API); a local folder or GGUF file works too (model-target.ts).
 *
 *   - step: judge
 *     target: { endpoint: http://127.0.0.1:8000/v1, modelName: Qwen2.5-7B-Instruct }
 *
 * The prompt is a template: `{problem}`, `{answer}` (the gold) and
 * `{solution}` are filled in. The default asks whether the problem is a
 * single, well-posed math problem with one verifiable final answer, and for
 * one line back: `KEEP`, or `DROP: <reason>`. Verdicts are read by
 * `parseVerdict` (below); a dropped row carries the judge's reason
 * ("judge-drop", detail: the reason). An answer with no verdict in it is
 * counted, and the row kept or dropped as `onUnparseable` says
 * ("judge-unparseable", detail: the start of the answer).
 *
 * Benchmark contamination (the LMSYS "LLM decontaminator" approach): with
 * `benchmarks: { dir, names }`, each row is shown beside the benchmark problem
 * its `benchmark_match` label names (set by `decontaminate` on look-alikes and
 * unconfirmed paraphrase candidates) and the default prompt becomes
 * CONTAMINATION_PROMPT, which asks whether the two are the same problem
 * (DROP) or different ones (KEEP); `{benchmark_problem}` and
 * `{benchmark_answer}` are filled in. Rows without that label are kept and not
 * asked. Select the rows with `where`:
 *
 *   - step: judge
 *     where: { benchmark_relation: [lookalike, candidate] }
 *     target: { endpoint: http://127.0.0.1:8000/v1, modelName: Qwen2.5-7B-Instruct }
 *     benchmarks: { dir: ../shared/data/benchmarks }
 *
 * Requests: one per problem, `concurrency` in flight, greedy (temperature 0)
 * unless set otherwise, each with a seed derived from `seed` and the problem.
 * Caching and resume as for `difficulty` (result-cache.ts): each verdict, with
 * the start of the model's answer, is appended to a JSONL file chosen by the
 * model's identity, the prompt, the system prompt, temperature, max tokens,
 * seed and `cacheTag`, one line per problem (keyed by its text and gold) as
 * soon as it arrives. Unparseable answers are cached too, so `onUnparseable`
 * can change without asking again.
 */
import { z } from "zod";
import { openTarget } from "../../../generate/targets.ts";
import type { BenchmarkProblem } from "../../contamination.ts";
import type { DataRow } from "../../row.ts";
import { FieldMap } from "../../sources.ts";
import { describeTarget, identityLabel, ModelTarget, targetIdentity, targetSpec } from "../model-target.ts";
import { conversation, derivedSeed, excerpt, fillTemplate, runBatches } from "../model-work.ts";
import { problemKey, ResultCache } from "../result-cache.ts";
import { type Drop, defineStep } from "../step.ts";
import { loadBenchmarks, PAPER_BENCHMARKS } from "./decontaminate.ts";

/** The default prompt: a keep/drop instruction for math training problems. */
export const JUDGE_PROMPT = `You are screening problems for a math training set. Each problem will be solved by a model, and its final answer checked automatically against a reference answer.

KEEP the problem if it is a single, well-posed math problem with exactly one verifiable final answer (a number, expression, interval or set).

DROP it if any of these holds:
- it has several parts or asks several questions;
- it asks for a proof, a derivation or an explanation rather than a final value;
- it is multiple choice and the answer is only an option letter;
- it is ambiguous, missing information, or refers to a figure or table that is not given;
- it is not a math problem, or its text is garbled or incomplete.

Problem:
{problem}

Reference answer: {answer}

Reply with exactly one line: KEEP, or DROP: <short reason>.`;

/** The prompt of benchmark contamination: is the training problem a benchmark problem, reworded? */
export const CONTAMINATION_PROMPT = `You are checking a math training set for leaked test problems. A training problem leaks a test problem when it is the same problem: the same question about the same objects and numbers, even if reworded, reformatted, translated, or given with extra instructions or answer choices. It does not leak when it only shares a template or topic but asks about other numbers or objects, or asks for something else.

Training problem:
{problem}

Training answer: {answer}

Test problem:
{benchmark_problem}

Test answer: {benchmark_answer}

Reply with exactly one line: DROP: <short reason> if the training problem is the test problem, or KEEP if it is a different problem.`;

/** Where the benchmark problems named by rows' `benchmark_match` labels are. */
const JudgeBenchmarks = z
  .object({
    /** Folder of the benchmark files (as for `decontaminate`). */
    dir: z.string().min(1),
    /** Benchmark file names without extension. */
    names: z.array(z.string().min(1)).min(1).default(PAPER_BENCHMARKS),
    /** Field names in the benchmark files. */
    fields: FieldMap.default({ problem: "problem", answer: "answer", solution: "solution", id: "id" }),
  })
  .strict();

export const JudgeParams = z
  .object({
    /** The judge: { endpoint: URL, apiKey?, apiKeyEnv?, modelName? } (or { model: DIR } / { gguf: FILE }). */
    target: ModelTarget,
    /**
     * The user message, with `{problem}` and optionally `{answer}` and `{solution}` (and, with
     * `benchmarks`, `{benchmark_problem}` and `{benchmark_answer}`). Default: JUDGE_PROMPT, or
     * CONTAMINATION_PROMPT with `benchmarks`.
     */
    prompt: z.string().includes("{problem}", { message: "the prompt needs a {problem} slot" }).optional(),
    /** Judge each row against the benchmark problem its `benchmark_match` label names. */
    benchmarks: JudgeBenchmarks.optional(),
    /** A system prompt before it (default: none). */
    system: z.string().optional(),
    /** Sampling temperature (0: greedy). */
    temperature: z.number().min(0).max(2).default(0),
    /** New tokens at most per answer (room for a reasoning model's thinking if it is one). */
    maxTokens: z.number().int().positive().default(512),
    /** Base seed of the requests (default: the recipe's seed). */
    seed: z.number().int().optional(),
    /** Requests in flight at once. */
    concurrency: z.number().int().positive().default(8),
    /** What to do with a row whose answer holds no verdict. */
    onUnparseable: z.enum(["keep", "drop"]).default("keep"),
    /** Mixed into the cache key: change it to ask again. */
    cacheTag: z.string().optional(),
  })
  .strict();
export type JudgeParams = z.output<typeof JudgeParams>;

/** A verdict read from the judge's answer. */
export interface Verdict {
  verdict: "keep" | "drop";
  /** The reason after "DROP" ("" when none was given). */
  reason: string;
}

/** Markdown and labels around a verdict: "**Verdict:** KEEP", "> DROP", "`KEEP`", "Answer: DROP - ...". */
const DECORATION =
  /^[\s>*#`_"'[(-]*(?:(?:final\s+)?(?:verdict|answer|decision|output)\s*[:=-]\s*)?[\s*`_"'[(]*/i;

/** A reason without the separator and markdown around it: "** - too vague**" -> "too vague". */
function cleanReason(text: string): string {
  return text
    .replace(/^[\s*`_"')\]]*[:;,.\-–—=]?[\s*`_"']*/, "")
    .replace(/[\s*`_"']+$/, "")
    .trim();
}

/** The verdict at the start of one line, or null (also for a line naming both, "KEEP or DROP?"). */
function lineVerdict(rawLine: string): Verdict | null {
  if (/\bKEEP\b/.test(rawLine) && /\bDROP\b/.test(rawLine)) return null;
  const line = rawLine.replace(DECORATION, "");
  // Upper case at the start of the line; or any case as the whole line or before a colon.
  const m = /^(KEEP|DROP)\b(.*)$/.exec(line) ?? /^(keep|drop)(?:\s*[.!]?\s*$|\s*:(.*)$)/i.exec(line);
  if (!m) return null;
  const verdict = m[1].toLowerCase() as "keep" | "drop";
  const reason = cleanReason(m[2] ?? "");
  return { verdict, reason: verdict === "drop" ? reason : "" };
}

/**
 * Reads a verdict from the judge's answer, or null when there is none:
 * 1. a reasoning model's thinking is left out (everything up to the last `</think>`);
 * 2. the last line that starts with the verdict (after markdown and a "Verdict:"-like label)
 *    decides: `KEEP`, `DROP: reason`, `**DROP** - reason`, `keep.`, `Verdict: drop: reason`
 *    (a line naming both words, "KEEP or DROP?", is not a verdict);
 * 3. otherwise, if the words KEEP or DROP (upper case) appear and only one of them, it decides;
 *    a DROP's reason is the rest of its line.
 */
export function parseVerdict(answer: string): Verdict | null {
  const thinkEnd = answer.lastIndexOf("</think>");
  const text = thinkEnd >= 0 ? answer.slice(thinkEnd + "</think>".length) : answer;
  const lines = text.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const v = lineVerdict(lines[i]);
    if (v) return v;
  }
  const words = new Set([...text.matchAll(/\b(KEEP|DROP)\b/g)].map((m) => m[1]));
  if (words.size !== 1) return null;
  if (words.has("KEEP")) return { verdict: "keep", reason: "" };
  const after = /\bDROP\b(.*)/.exec(text)?.[1] ?? "";
  return { verdict: "drop", reason: cleanReason(after) };
}

/** One problem's line in the cache. */
export interface VerdictRecord {
  key: string;
  /** The id of the first row that had the problem. */
  id: string;
  verdict: "keep" | "drop" | "unparseable";
  reason: string;
  /** The start of the judge's answer. */
  response: string;
}

function isVerdictRecord(v: unknown): v is VerdictRecord {
  const r = v as VerdictRecord;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.key === "string" &&
    (r.verdict === "keep" || r.verdict === "drop" || r.verdict === "unparseable") &&
    typeof r.reason === "string"
  );
}

interface Problem {
  key: string;
  row: DataRow;
  rows: DataRow[];
  /** The benchmark problem it is compared with (benchmark mode). */
  benchmark?: BenchmarkProblem;
}

/** The benchmark problem a row's `benchmark_match` label names, or null (benchmark mode). */
async function benchmarkLookup(p: JudgeParams) {
  if (!p.benchmarks) return null;
  const byId = new Map((await loadBenchmarks(p.benchmarks)).map((b) => [b.id, b]));
  return (row: DataRow) => {
    const id = row.labels.benchmark_match;
    return typeof id === "string" ? (byId.get(id) ?? null) : null;
  };
}

/**
 * The judge step. Its run() is over 80 lines on purpose: cache, requests in flight, verdicts and
 * the decision per row read in order; splitting it would pass its shared state around.
 */
export const judgeStep = defineStep({
  type: "judge",
  summary: "an LLM (OpenAI-compatible endpoint) keeps or drops each problem, with a reason",
  params: JudgeParams,
  async run(rows, p, ctx) {
    const seed = p.seed ?? ctx.seed;
    const target = await targetIdentity(p.target);
    const prompt = p.prompt ?? (p.benchmarks ? CONTAMINATION_PROMPT : JUDGE_PROMPT);
    const benchmarkOf = await benchmarkLookup(p);
    const cache = await ResultCache.open(
      ctx.cacheDir,
      `judge-${identityLabel(target)}`,
      {
        step: "judge",
        version: 1,
        target,
        prompt,
        system: p.system ?? null,
        temperature: p.temperature,
        maxTokens: p.maxTokens,
        seed,
        cacheTag: p.cacheTag ?? null,
      },
      isVerdictRecord,
    );
    const problems = new Map<string, Problem>();
    const unmatched: DataRow[] = [];
    for (const row of rows) {
      const benchmark = benchmarkOf?.(row) ?? undefined;
      if (benchmarkOf && !benchmark) {
        unmatched.push(row);
        continue;
      }
      const text = benchmark ? `${row.problem}\n\u0000${benchmark.problem}` : row.problem;
      const key = problemKey(text, row.answer.trim());
      const known = problems.get(key);
      if (known) known.rows.push(row);
      else problems.set(key, { key, row, rows: [row], benchmark });
    }
    const todo = [...problems.values()].filter((x) => !cache.has(x.key));
    const cached = problems.size - todo.length;

    if (todo.length > 0) {
      ctx.log(
        `${ctx.name}: asking ${describeTarget(p.target)} about ${todo.length} problems (${cached} cached in ${cache.path})`,
      );
      const opened = await openTarget(targetSpec(p.target, p.concurrency));
      let done = 0;
      let lastLog = performance.now();
      try {
        // One problem per call, `concurrency` calls in flight: each verdict is cached as it arrives.
        const batches = todo.map((x) => [x]);
        await runBatches(batches, p.concurrency, ctx.signal, async ([x]) => {
          const user = fillTemplate(prompt, {
            problem: x.row.problem,
            answer: x.row.answer,
            solution: x.row.solution ?? "",
            benchmark_problem: x.benchmark?.problem ?? "",
            benchmark_answer: x.benchmark?.answer ?? "",
          });
          const [[answer]] = await opened.generator.chat([conversation(user, p.system)], {
            n: 1,
            temperature: p.temperature,
            maxTokens: p.maxTokens,
            seed: derivedSeed(seed, x.key),
          });
          const verdict = parseVerdict(answer.text);
          await cache.append([
            {
              key: x.key,
              id: x.row.id,
              verdict: verdict?.verdict ?? "unparseable",
              reason: verdict?.reason ?? "",
              response: excerpt(answer.text, 1000),
            },
          ]);
          done++;
          if (done === todo.length || performance.now() - lastLog > 10_000) {
            lastLog = performance.now();
            ctx.log(`${ctx.name}: ${done}/${todo.length} problems judged`);
          }
        });
      } finally {
        await opened.dispose();
      }
    }

    const verdicts = new Map<DataRow, VerdictRecord>();
    const notAsked: VerdictRecord = { key: "", id: "", verdict: "keep", reason: "", response: "" };
    for (const row of unmatched) verdicts.set(row, notAsked);
    const counts = { keep: 0, drop: 0, unparseable: 0 };
    for (const x of problems.values()) {
      const r = cache.get(x.key) as VerdictRecord;
      counts[r.verdict]++;
      for (const row of x.rows) verdicts.set(row, r);
    }
    const kept: DataRow[] = [];
    const dropped: Drop[] = [];
    const reasons: Record<string, number> = {};
    for (const row of rows) {
      const r = verdicts.get(row) as VerdictRecord;
      if (r.verdict === "drop") {
        const reason = r.reason || "no reason given";
        const match = benchmarkOf ? `${String(row.labels.benchmark_match)}: ` : "";
        dropped.push({ row, reason: "judge-drop", detail: `${match}${reason}` });
        reasons[reason] = (reasons[reason] ?? 0) + 1;
      } else if (r.verdict === "unparseable" && p.onUnparseable === "drop")
        dropped.push({ row, reason: "judge-unparseable", detail: excerpt(r.response, 200) });
      else kept.push(row);
    }
    const topReasons = Object.entries(reasons)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 20);
    return {
      kept,
      dropped,
      details: {
        target: describeTarget(p.target),
        cache: cache.path,
        problems: problems.size,
        notMatched: unmatched.length,
        cached,
        asked: todo.length,
        verdicts: counts,
        onUnparseable: p.onUnparseable,
        cacheLinesIgnored: cache.ignoredLines,
        reasons,
      },
      notes: [
        `Judge: ${describeTarget(p.target)}. Problems: ${problems.size} (${cached} from the cache, ` +
          `${todo.length} asked now); cache \`${cache.path}\`.`,
        `Verdicts: keep ${counts.keep}, drop ${counts.drop}, unparseable ${counts.unparseable} ` +
          `(${p.onUnparseable === "keep" ? "kept" : "dropped"}).`,
        ...(benchmarkOf
          ? [
              `Each problem compared with the benchmark problem of its benchmark_match label; ` +
                `${unmatched.length} rows without one kept unasked.`,
            ]
          : []),
        ...(topReasons.length > 0
          ? [
              "",
              "| judge's reason | rows |",
              "| --- | ---: |",
              ...topReasons.map(([r, n]) => `| ${r.replace(/\|/g, "\\|")} | ${n} |`),
            ]
          : []),
      ],
    };
  },
});
