/**
 * `reasonrl bench verify`: pairs every gold answer of the benchmarks (or the
 * built-in set) with equal rewritings and a wrong one, runs them through the
 * worker pool, and reports throughput, latency, correctness of the verdicts and
 * the adversarial inputs, with the targets beside the measurements.
 *
 * `answerClassAgreement` measures agreement with hand-labelled cases grouped by
 * answer class (test/verify/fixtures/answer-classes.jsonl, docs/VERIFY.md); run
 * it as `node --import tsx bench/verify.ts --fixtures FILE [--json]`.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCases } from "../src/verify/batch.ts";
import type { VerifyOptionsInput } from "../src/verify/config.ts";
import { equalRewritings, loadGolds, wrongRewriting } from "../src/verify/gold-data.ts";
import { VerifierPool } from "../src/verify/pool.ts";
import { type VerifyResult, verifySync } from "../src/verify/verify.ts";

/** Targets of issue 4. */
export const VERIFY_BENCH_TARGETS = { per_s: 2000, p99_ms: 50 } as const;

export interface VerifyBenchOptions {
  /** Worker threads (default 2: the issue measures on 2 cores). */
  workers?: number;
  /** Time limit per comparison in ms (default 3000). */
  timeoutMs?: number;
  /** Comparisons in flight at once (default 2 per worker). */
  concurrency?: number;
  /** Use only the first this many gold answers (default: all). */
  limit?: number;
}

export interface VerifyBenchResult {
  bench: "verify";
  pairs: number;
  per_s: number;
  p50_ms: number;
  p99_ms: number;
  timeouts: number;
  target_per_s: number;
  target_p99_ms: number;
  /** Equal rewritings judged equal, and wrong ones judged not equal. */
  equal_accepted: number;
  equal_total: number;
  wrong_rejected: number;
  wrong_total: number;
  adversarial_cases: number;
  adversarial_answered: number;
  adversarial_max_ms: number;
  limit_ms: number;
  workers: number;
  cores: number;
  source: string;
}

interface Pair {
  gold: string;
  pred: string;
  equal: boolean;
}

/** Inputs that must be answered within the limit without crashing (issue 4). */
export function adversarialPairs(): { name: string; gold: string; pred: string }[] {
  const digits = "7".repeat(100_000);
  const row = Array(200).fill("1").join(" & ");
  const matrix = `\\begin{pmatrix}${Array(200).fill(row).join(" \\\\ ")}\\end{pmatrix}`;
  return [
    {
      name: "10,000 nested braces",
      gold: "1",
      pred: `$\\boxed{${"{".repeat(10_000)}1${"}".repeat(10_000)}}$`,
    },
    { name: "10^10^10^10", gold: "10^10^10^10", pred: "$\\boxed{10^{10^{10^{10}}} + 1}$" },
    { name: "100,000-digit number", gold: digits, pred: `$\\boxed{${digits.slice(1)}8}$` },
    { name: "200x200 matrix", gold: matrix, pred: `$\\boxed{${matrix}}$` },
    { name: "invalid UTF-16", gold: "\ud800 1 \udfff", pred: "$\\boxed{\udc00}$ \ud83d" },
  ];
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function runAll(
  pool: VerifierPool,
  pairs: Pair[],
  concurrency: number,
  timeoutMs: number,
): Promise<{ results: VerifyResult[]; latencies: number[] }> {
  const results: VerifyResult[] = new Array(pairs.length);
  const latencies: number[] = new Array(pairs.length);
  let next = 0;
  const lane = async () => {
    while (next < pairs.length) {
      const i = next++;
      const t = performance.now();
      results[i] = await pool.verify(pairs[i].gold, pairs[i].pred, { timeoutMs });
      latencies[i] = performance.now() - t;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { results, latencies };
}

/** Runs the verifier benchmark (see the file comment). */
export async function runVerifyBench(opts: VerifyBenchOptions = {}): Promise<VerifyBenchResult> {
  const workers = opts.workers ?? 2;
  const timeoutMs = opts.timeoutMs ?? 3000;
  const concurrency = opts.concurrency ?? 2 * workers;
  const loaded = loadGolds();
  const golds = loaded.golds.slice(0, opts.limit ?? loaded.golds.length);
  const source = loaded.source;
  const pairs: Pair[] = golds.flatMap((g) => [
    ...equalRewritings(g.answer).map((pred) => ({ gold: g.answer, pred, equal: true })),
    { gold: g.answer, pred: wrongRewriting(g.answer), equal: false },
  ]);
  const pool = new VerifierPool({ workers });
  try {
    // Warm-up: start the workers and let the JIT see every code path once.
    await runAll(pool, pairs.slice(0, Math.min(pairs.length, 400)), concurrency, timeoutMs);
    const t0 = performance.now();
    const { results, latencies } = await runAll(pool, pairs, concurrency, timeoutMs);
    const wall = performance.now() - t0;
    const sorted = [...latencies].sort((a, b) => a - b);
    let equalAccepted = 0;
    let wrongRejected = 0;
    pairs.forEach((p, i) => {
      if (p.equal && results[i].equivalent) equalAccepted++;
      if (!p.equal && !results[i].equivalent) wrongRejected++;
    });
    const adversarial = adversarialPairs();
    const adv = await Promise.all(
      adversarial.map(async (a) => {
        const t = performance.now();
        const r = await pool.verify(a.gold, a.pred, { timeoutMs });
        return { r, ms: performance.now() - t };
      }),
    );
    const round = (x: number) => Math.round(x * 1000) / 1000;
    return {
      bench: "verify",
      pairs: pairs.length,
      per_s: Math.round(pairs.length / (wall / 1000)),
      p50_ms: round(percentile(sorted, 0.5)),
      p99_ms: round(percentile(sorted, 0.99)),
      timeouts: results.filter((r) => r.timedOut).length,
      target_per_s: VERIFY_BENCH_TARGETS.per_s,
      target_p99_ms: VERIFY_BENCH_TARGETS.p99_ms,
      equal_accepted: equalAccepted,
      equal_total: pairs.filter((p) => p.equal).length,
      wrong_rejected: wrongRejected,
      wrong_total: pairs.filter((p) => !p.equal).length,
      adversarial_cases: adversarial.length,
      adversarial_answered: adv.filter((a) => typeof a.r.equivalent === "boolean").length,
      adversarial_max_ms: round(Math.max(...adv.map((a) => a.ms))),
      limit_ms: timeoutMs,
      workers,
      cores: availableParallelism(),
      source,
    };
  } finally {
    await pool.close();
  }
}

/** A short human-readable report of a bench result. */
export function describeVerifyBench(r: VerifyBenchResult): string {
  return [
    `verify bench on ${r.pairs} pairs from ${r.source} (${r.workers} workers, ${r.cores} cores)`,
    `  throughput ${r.per_s}/s (target ${r.target_per_s}/s), p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms (target < ${r.target_p99_ms} ms), ${r.timeouts} timeouts`,
    `  equal rewritings accepted ${r.equal_accepted}/${r.equal_total}, wrong ones rejected ${r.wrong_rejected}/${r.wrong_total}`,
    `  adversarial inputs answered ${r.adversarial_answered}/${r.adversarial_cases}, slowest ${r.adversarial_max_ms} ms (limit ${r.limit_ms} ms)`,
  ].join("\n");
}

/** Agreement with the labels of one answer class. */
export interface ClassAgreement {
  class: string;
  cases: number;
  agree: number;
  /** Labelled equivalent, judged not equivalent. */
  false_negatives: number;
  /** Labelled not equivalent, judged equivalent. */
  false_positives: number;
  /** Gold, prediction and label of every disagreement. */
  disagreements: { gold: string; pred: string; expected: boolean; note: string }[];
}

/**
 * Runs every labelled case of a fixture file (JSONL with gold, pred, expected,
 * class, note and optional options) through verifySync and counts agreement per
 * class, in the order the classes first appear. A line without "expected" or
 * "class" is an error naming the file and line.
 */
export function answerClassAgreement(path: string): ClassAgreement[] {
  const file = basename(path);
  const cases = parseCases(readFileSync(path, "utf8"), file);
  const byClass = new Map<string, ClassAgreement>();
  cases.forEach((c, i) => {
    const cls = typeof c.class === "string" ? c.class : null;
    if (cls === null || typeof c.expected !== "boolean")
      throw new Error(`${file}: case ${i + 1} needs a string "class" and a boolean "expected"`);
    let row = byClass.get(cls);
    if (!row) {
      row = { class: cls, cases: 0, agree: 0, false_negatives: 0, false_positives: 0, disagreements: [] };
      byClass.set(cls, row);
    }
    const r = verifySync(c.gold, c.pred, c.options as VerifyOptionsInput);
    row.cases++;
    if (r.equivalent === c.expected) row.agree++;
    else {
      if (c.expected) row.false_negatives++;
      else row.false_positives++;
      row.disagreements.push({
        gold: c.gold,
        pred: c.pred,
        expected: c.expected,
        note: String(c.note ?? ""),
      });
    }
  });
  return [...byClass.values()];
}

/** The per-class agreement as a Markdown table (the one in docs/VERIFY.md). */
export function describeClassAgreement(rows: ClassAgreement[]): string {
  const pct = (a: number, n: number) => (n === 0 ? "-" : `${((100 * a) / n).toFixed(1)}%`);
  const total = rows.reduce((s, r) => ({ cases: s.cases + r.cases, agree: s.agree + r.agree }), {
    cases: 0,
    agree: 0,
  });
  return [
    "| class | cases | agree | agreement | false negatives | false positives |",
    "|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.class} | ${r.cases} | ${r.agree} | ${pct(r.agree, r.cases)} | ${r.false_negatives} | ${r.false_positives} |`,
    ),
    `| all | ${total.cases} | ${total.agree} | ${pct(total.agree, total.cases)} | | |`,
  ].join("\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf("--fixtures");
  const path = at > 0 ? process.argv[at + 1] : undefined;
  if (!path) {
    console.error("usage: node --import tsx bench/verify.ts --fixtures FILE [--json] [--list]");
    process.exit(1);
  }
  const rows = answerClassAgreement(path);
  console.log(describeClassAgreement(rows));
  if (process.argv.includes("--list"))
    for (const r of rows)
      for (const d of r.disagreements)
        console.log(
          `${r.class}: expected ${d.expected}: ${JSON.stringify(d.gold)} vs ${JSON.stringify(d.pred)} (${d.note})`,
        );
  if (process.argv.includes("--json"))
    console.log(JSON.stringify({ bench: "verify-classes", file: path, classes: rows }));
}
