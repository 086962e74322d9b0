/**
 * `difficulty`: how often a model solves each problem. k completions are
 * sampled per problem from a model (a local folder, an OpenAI-compatible
 * endpoint or a GGUF file: model-target.ts), each is graded by the verifier
 * against the row's gold answer (the one `verifiable` set), and the problem's
 * pass rate is correct / k. The paper drops what a model already solves
 * (open-s1: DeepSeek-R1-Distill-Qwen-1.5B; open-deepscaler:
 * Qwen2.5-Math-7B-Instruct) and draws open-rs's easy problems from those:
 *
 *   - step: difficulty
 *     target: { endpoint: http://127.0.0.1:8000/v1, modelName: Qwen2.5-Math-7B-Instruct }
 *     k: 4
 *     maxPassRate: 0.75        # drop what all 4 samples solve ("too-easy")
 *     label: { easy: 1, hard: 0.75 }
 *
 * Rows get the label `pass_rate` (`passRateLabel`), and with `label` the
 * label `difficulty` (`label.name`): "easy" when the pass rate is at least
 * `label.easy`, "hard" when at most `label.hard`, else "medium" (a `mix` pool
 * can select on it). With `minPassRate` / `maxPassRate`, rows outside the
 * window are dropped as "too-hard" / "too-easy". A row without a gold answer
 * is dropped as "no-answer" (run `verifiable` first).
 *
 * Prompt: the template's `{problem}` is replaced by the problem (default:
 * DeepSeek-R1's "Please reason step by step, and put your final answer within
 * \boxed{}."), sent as the user message after the optional system prompt; the
 * target applies its chat template. Grading: the verifier extracts the answer
 * from the whole completion as the paper's evaluation does (`extraction`
 * "lighteval": \boxed{} and "final answer" first, then any math, rightmost
 * first) and compares it with the gold (precision 5, 5 s per comparison; past
 * it the sample counts as wrong).
 *
 * Batching: `concurrency` problems go into one chat() call with n = k (the
 * local engine decodes them together; an endpoint gets one request per
 * problem, all in flight at once), `parallelCalls` calls at a time. Each call's
 * seed is derived from `seed` and its first problem, so a greedy run
 * (temperature 0) gives the same results however it was interrupted.
 *
 * Caching and resume (result-cache.ts): each problem's result (correct count,
 * the extracted answers, tokens) is appended to a JSONL file under the step's
 * cache folder as soon as its call finishes. The file is chosen by the
 * model's identity (model-target.ts: the fingerprint of its weights, or the
 * model id the endpoint serves) and every setting that shapes a result
 * (prompt, system, k, temperature, top-p, max tokens, seed, extraction,
 * precision, `cacheTag`); lines by a hash of the problem text and gold. A
 * rerun, after a stop or a kill, samples only the problems without a line, and
 * does not even open the model when every problem is cached (an endpoint
 * without `modelName` is still asked which model it serves). Changing the
 * window or the labels never resamples.
 */
import { z } from "zod";
import { openTarget } from "../../../generate/targets.ts";
import type { TextCompletion } from "../../../generate/types.ts";
import {
  EXTRACTION_PRESETS,
  type ExtractionPresetName,
  type VerifyOptionsInput,
} from "../../../verify/config.ts";
import { VerifierPool } from "../../../verify/pool.ts";
import { DEEPSEEK_MATH_PROMPT } from "../../math-prompts.ts";
import type { DataRow } from "../../row.ts";
import { describeTarget, identityLabel, ModelTarget, targetIdentity, targetSpec } from "../model-target.ts";
import { chunks, conversation, derivedSeed, excerpt, fillTemplate, runBatches } from "../model-work.ts";
import { problemKey, ResultCache } from "../result-cache.ts";
import { type Drop, defineStep, type StepContext } from "../step.ts";

const Rate = z.number().min(0).max(1);
const PRESETS = Object.keys(EXTRACTION_PRESETS) as [ExtractionPresetName, ...ExtractionPresetName[]];

export const DifficultyParams = z
  .object({
    /** The model: { model: DIR } | { endpoint: URL, apiKey?, apiKeyEnv?, modelName? } | { gguf: FILE }. */
    target: ModelTarget,
    /** The user message, with `{problem}` (default: DeepSeek-R1's step-by-step \boxed{} directive). */
    prompt: z
      .string()
      .includes("{problem}", { message: "the prompt needs a {problem} slot" })
      .default(DEEPSEEK_MATH_PROMPT),
    /** A system prompt before it (default: none). */
    system: z.string().optional(),
    /** Completions sampled per problem. */
    k: z.number().int().positive().default(4),
    /** Sampling temperature (the paper's filter, open-rs recipes/data_cleaner.yaml: 0.7). */
    temperature: z.number().min(0).max(2).default(0.7),
    /** Nucleus sampling (data_cleaner.yaml: 0.9). */
    topP: z.number().gt(0).max(1).default(0.9),
    /** New tokens at most per completion (data_cleaner.yaml: 4096). */
    maxTokens: z.number().int().positive().default(4096),
    /** Base seed of the sampling (default: the recipe's seed). */
    seed: z.number().int().optional(),
    /** Problems per chat() call. */
    concurrency: z.number().int().positive().default(8),
    /** chat() calls in flight at once (raise it for an endpoint that batches well, e.g. vLLM). */
    parallelCalls: z.number().int().positive().default(1),
    /** Drop rows whose pass rate is below this ("too-hard"). */
    minPassRate: Rate.optional(),
    /** Drop rows whose pass rate is above this ("too-easy"); 0.75 with k 4 drops what every sample solves. */
    maxPassRate: Rate.optional(),
    /** Label rows easy / hard by pass rate (for `mix` pools). */
    label: z
      .object({
        /** The label's name. */
        name: z.string().min(1).default("difficulty"),
        /** Pass rate at least this: "easy". */
        easy: Rate.optional(),
        /** Pass rate at most this: "hard". */
        hard: Rate.optional(),
        /** The value of rows between the two. */
        medium: z.string().min(1).default("medium"),
      })
      .strict()
      .refine((l) => l.easy === undefined || l.hard === undefined || l.hard < l.easy, {
        message: "label.hard must be below label.easy",
      })
      .optional(),
    /** The label holding each row's pass rate. */
    passRateLabel: z.string().min(1).default("pass_rate"),
    /** How answers are extracted from completions (a verifier preset). */
    extraction: z.enum(PRESETS).default("lighteval"),
    /** Decimal places that must agree when a decimal number is involved. */
    precision: z.number().int().min(0).max(15).default(5),
    /** Time limit of one verifier comparison, ms. */
    verifyTimeoutMs: z.number().positive().default(5000),
    /** Mixed into the cache key: change it to sample afresh. */
    cacheTag: z.string().optional(),
  })
  .strict()
  .refine(
    (p) => p.minPassRate === undefined || p.maxPassRate === undefined || p.minPassRate <= p.maxPassRate,
    {
      message: "minPassRate must not exceed maxPassRate",
    },
  );
export type DifficultyParams = z.output<typeof DifficultyParams>;

/** One problem's line in the cache. */
export interface PassRecord {
  /** problemKey(problem, gold). */
  key: string;
  /** The id of the first row that had the problem (for people reading the file). */
  id: string;
  gold: string;
  /** Samples drawn, and how many were correct. */
  k: number;
  correct: number;
  /** Each sample's extracted answer as the verifier renders it (null: none found). */
  answers: (string | null)[];
  /** Completion tokens of all samples together. */
  tokens: number;
  /** Samples cut at maxTokens. */
  cut: number;
  /** Samples whose grading timed out or failed (counted wrong). */
  grading_errors: number;
}

function isPassRecord(v: unknown): v is PassRecord {
  const r = v as PassRecord;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.key === "string" &&
    Number.isInteger(r.k) &&
    r.k > 0 &&
    Number.isInteger(r.correct) &&
    r.correct >= 0 &&
    r.correct <= r.k
  );
}

/** A distinct problem of the step's rows. */
interface Problem {
  key: string;
  problem: string;
  gold: string;
  rows: DataRow[];
}

/** Grades the k completions of one problem into its cache record. */
async function gradeProblem(
  pool: VerifierPool,
  problem: Problem,
  completions: readonly TextCompletion[],
  options: VerifyOptionsInput,
): Promise<PassRecord> {
  const grades = await Promise.all(
    completions.map(async (c) => {
      try {
        const r = await pool.verify(problem.gold, c.text, options);
        const answer = r.pred.parsed.length > 0 ? r.pred.parsed.join(" | ") : r.pred.text || null;
        return {
          correct: r.equivalent,
          answer: answer && excerpt(answer, 200),
          error: r.timedOut || !!r.error,
        };
      } catch {
        return { correct: false, answer: null, error: true };
      }
    }),
  );
  return {
    key: problem.key,
    id: problem.rows[0].id,
    gold: problem.gold,
    k: completions.length,
    correct: grades.filter((g) => g.correct).length,
    answers: grades.map((g) => g.answer),
    tokens: completions.reduce((sum, c) => sum + c.tokens, 0),
    cut: completions.filter((c) => c.finishReason === "length").length,
    grading_errors: grades.filter((g) => g.error).length,
  };
}

/** Opens the step's cache: one file per model identity and every setting that shapes a result. */
async function openCache(p: DifficultyParams, seed: number, dir: string): Promise<ResultCache<PassRecord>> {
  const target = await targetIdentity(p.target);
  const settings = {
    step: "difficulty",
    version: 1,
    target,
    prompt: p.prompt,
    system: p.system ?? null,
    k: p.k,
    temperature: p.temperature,
    topP: p.topP,
    maxTokens: p.maxTokens,
    seed,
    extraction: p.extraction,
    precision: p.precision,
    cacheTag: p.cacheTag ?? null,
  };
  return ResultCache.open(dir, `difficulty-${identityLabel(target)}`, settings, isPassRecord);
}

/** Samples and grades `todo`, appending each batch's records to the cache as it finishes. */
async function samplePassRates(
  todo: readonly Problem[],
  p: DifficultyParams,
  seed: number,
  cache: ResultCache<PassRecord>,
  ctx: StepContext,
): Promise<void> {
  const opened = await openTarget(targetSpec(p.target, p.concurrency * p.parallelCalls));
  const pool = new VerifierPool();
  const verify: VerifyOptionsInput = {
    gold: "gold",
    pred: p.extraction,
    precision: p.precision,
    timeoutMs: p.verifyTimeoutMs,
  };
  let done = 0;
  let lastLog = performance.now();
  try {
    await runBatches(chunks(todo, p.concurrency), p.parallelCalls, ctx.signal, async (batch) => {
      const results = await opened.generator.chat(
        batch.map((x) => conversation(fillTemplate(p.prompt, { problem: x.problem }), p.system)),
        {
          n: p.k,
          temperature: p.temperature,
          topP: p.topP,
          maxTokens: p.maxTokens,
          seed: derivedSeed(seed, batch[0].key),
        },
      );
      if (results.length !== batch.length || results.some((r) => r.length !== p.k))
        throw new Error(
          `${ctx.name}: asked ${opened.generator.name} for ${p.k} completions of ${batch.length} problems, ` +
            `got [${results.map((r) => r.length).join(", ")}]`,
        );
      await cache.append(await Promise.all(batch.map((x, i) => gradeProblem(pool, x, results[i], verify))));
      done += batch.length;
      if (done === todo.length || performance.now() - lastLog > 10_000) {
        lastLog = performance.now();
        ctx.log(`${ctx.name}: ${done}/${todo.length} problems sampled`);
      }
    });
  } finally {
    await pool.close();
    await opened.dispose();
  }
}

/** The difficulty label of a pass rate, by the `label` thresholds. */
function difficultyOf(rate: number, label: NonNullable<DifficultyParams["label"]>): string {
  if (label.easy !== undefined && rate >= label.easy) return "easy";
  if (label.hard !== undefined && rate <= label.hard) return "hard";
  return label.medium;
}

/**
 * The difficulty step. Its run() is over 80 lines on purpose: cache, sampling, grading and the
 * decision per row read in order, as the comments inside mark them.
 */
export const difficultyStep = defineStep({
  type: "difficulty",
  summary: "pass rate of k sampled completions per problem from a model; keep a window, label easy / hard",
  params: DifficultyParams,
  async run(rows, p, ctx) {
    const seed = p.seed ?? ctx.seed;
    const cache = await openCache(p, seed, ctx.cacheDir);

    // The distinct problems (a repeated problem with the same gold is sampled once).
    const drops = new Map<DataRow, Drop>();
    const problems = new Map<string, Problem>();
    for (const row of rows) {
      const gold = row.answer.trim();
      if (!gold) {
        drops.set(row, {
          row,
          reason: "no-answer",
          detail: "no gold answer (run the verifiable step first)",
        });
        continue;
      }
      const key = problemKey(row.problem, gold);
      const known = problems.get(key);
      if (known) known.rows.push(row);
      else problems.set(key, { key, problem: row.problem, gold, rows: [row] });
    }
    const todo = [...problems.values()].filter((x) => !cache.has(x.key));
    const cached = problems.size - todo.length;
    if (todo.length > 0) {
      ctx.log(
        `${ctx.name}: sampling ${todo.length} problems x ${p.k} from ${describeTarget(p.target)} ` +
          `(${cached} cached in ${cache.path})`,
      );
      await samplePassRates(todo, p, seed, cache, ctx);
    }

    // Label and decide each row by its problem's pass rate; count for the report.
    const byCorrect = Array.from({ length: p.k + 1 }, () => 0);
    const labels: Record<string, number> = {};
    const sum = { rate: 0, tokens: 0, cut: 0, gradingErrors: 0 };
    for (const x of problems.values()) {
      const r = cache.get(x.key) as PassRecord;
      const rate = r.correct / r.k;
      byCorrect[Math.round(rate * p.k)]++;
      sum.rate += rate;
      sum.tokens += r.tokens;
      sum.cut += r.cut;
      sum.gradingErrors += r.grading_errors;
      const detail = `pass rate ${r.correct}/${r.k}`;
      for (const row of x.rows) {
        row.labels[p.passRateLabel] = Math.round(rate * 1e4) / 1e4;
        if (p.label) {
          const value = difficultyOf(rate, p.label);
          row.labels[p.label.name] = value;
          labels[value] = (labels[value] ?? 0) + 1;
        }
        if (p.minPassRate !== undefined && rate < p.minPassRate)
          drops.set(row, { row, reason: "too-hard", detail });
        else if (p.maxPassRate !== undefined && rate > p.maxPassRate)
          drops.set(row, { row, reason: "too-easy", detail });
      }
    }
    const kept = rows.filter((row) => !drops.has(row));
    const dropped = rows.flatMap((row) => drops.get(row) ?? []);

    const samples = problems.size * p.k;
    const share = (n: number, of: number) => (of > 0 ? Math.round((n / of) * 1e4) / 1e4 : 0);
    const notes = [
      `Target: ${describeTarget(p.target)}; ${p.k} samples per problem at temperature ${p.temperature}, ` +
        `top-p ${p.topP}, up to ${p.maxTokens} tokens. Problems: ${problems.size} ` +
        `(${cached} from the cache, ${todo.length} sampled now); cache \`${cache.path}\`.`,
      "",
      `| correct of ${p.k} | problems |`,
      "| ---: | ---: |",
      ...byCorrect.map((n, c) => `| ${c} | ${n} |`),
    ];
    if (p.label)
      notes.push(
        "",
        `Rows by \`${p.label.name}\`: ${Object.entries(labels)
          .map(([v, n]) => `${v} ${n}`)
          .join(", ")}.`,
      );
    if (sum.cut > 0) notes.push("", `${sum.cut} of ${samples} samples were cut at ${p.maxTokens} tokens.`);
    return {
      kept,
      dropped,
      details: {
        target: describeTarget(p.target),
        cache: cache.path,
        k: p.k,
        problems: problems.size,
        cached,
        sampled: todo.length,
        byCorrect,
        meanPassRate: share(sum.rate, problems.size),
        labels,
        meanTokens: Math.round(share(sum.tokens, samples)),
        cutShare: share(sum.cut, samples),
        gradingErrors: sum.gradingErrors,
        cacheLinesIgnored: cache.ignoredLines,
      },
      notes,
    };
  },
});
