/**
 * The quality half of `reasonrl bench curate`: the `decontaminate` step's rules
 * and open-r1's 8-gram rule on one labelled contamination set
 * (contamination-set.ts), as recall per kind of leak and false positives on
 * template look-alikes.
 *
 * open-r1's rule, as scripts/decontaminate.py has it: the text lower-cased and
 * split on whitespace, and a problem is contaminated when any of its word
 * 8-grams is one of a benchmark problem's (a text of fewer than 8 words has
 * none, so it never is).
 */
import type { BenchmarkProblem } from "../src/data/contamination.ts";
import { ContaminationIndex } from "../src/data/contamination.ts";
import { DecontaminateParams, relate } from "../src/data/curate/steps/decontaminate.ts";
import { contaminationSet, type LabelledCase, TRANSFORMATIONS } from "./contamination-set.ts";

/** The targets on the labelled set. */
export const QUALITY_TARGETS = {
  /** Recall of exact, whitespace, LaTeX, Unicode, preamble and choice leaks. */
  recall: 0.99,
  /** Recall of one-clause paraphrases. */
  paraphraseRecall: 0.7,
  /** Share of template look-alikes dropped. */
  lookalikeFalsePositives: 0.02,
};

/** One rule's figures on the labelled set. */
export interface RuleQuality {
  /** Share of each kind of leak the rule drops (0-1). */
  recall: Record<string, number>;
  /** Share of the look-alikes the rule drops (0-1). */
  lookalike_false_positives: number;
}

export interface CurateQuality {
  /** Cases per kind, and where the benchmark problems came from. */
  cases_per_kind: number;
  benchmark_source: string;
  reasonrl: RuleQuality;
  open_r1: RuleQuality;
  /** The labelled set through `decontaminate`'s rules, in rows per second (verifier included). */
  rows_per_s: number;
  /** Whether reasonrl's figures meet QUALITY_TARGETS. */
  meets_targets: boolean;
}

/** open-r1's normalisation and word 8-grams. */
function openR1Grams(text: string, n = 8): string[] {
  const words = text.toLowerCase().trim().split(/\s+/).filter(Boolean);
  const grams: string[] = [];
  for (let i = 0; i + n <= words.length; i++) grams.push(words.slice(i, i + n).join(" "));
  return grams;
}

/** Recall per kind and false positives on look-alikes of a drop decision. */
function measure(cases: readonly LabelledCase[], drops: (c: LabelledCase) => boolean): RuleQuality {
  const dropped: Record<string, [number, number]> = {};
  for (const c of cases) {
    const d = dropped[c.kind] ?? [0, 0];
    dropped[c.kind] = d;
    d[1]++;
    if (drops(c)) d[0]++;
  }
  const share = (kind: string) => {
    const [n, of] = dropped[kind] ?? [0, 0];
    return of === 0 ? 0 : Math.round((1000 * n) / of) / 1000;
  };
  return {
    recall: Object.fromEntries(TRANSFORMATIONS.map((k) => [k, share(k)])),
    lookalike_false_positives: share("lookalike"),
  };
}

/** Builds the labelled set from `benchmarks` and measures both rules on it. */
export function curateQuality(
  benchmarks: readonly BenchmarkProblem[],
  source: string,
  perKind: number,
): CurateQuality {
  const cases = contaminationSet(benchmarks, { perKind, seed: 11 });
  const p = DecontaminateParams.parse({ dir: "-" });
  const index = new ContaminationIndex(benchmarks, { ngram: p.ngram, looseNgram: p.looseNgram });
  const t0 = performance.now();
  const ours = new Map<LabelledCase, boolean>();
  for (const c of cases) {
    const r = relate(c, index, p);
    ours.set(c, r !== null && (r.relation === "same" || r.relation === "paraphrase"));
  }
  const seconds = (performance.now() - t0) / 1000;
  const benchmarkGrams = new Set(benchmarks.flatMap((b) => openR1Grams(b.problem)));
  const reasonrl = measure(cases, (c) => ours.get(c) === true);
  const openR1 = measure(cases, (c) => openR1Grams(c.problem).some((g) => benchmarkGrams.has(g)));
  const t = QUALITY_TARGETS;
  const meets =
    TRANSFORMATIONS.every(
      (k) => reasonrl.recall[k] >= (k === "paraphrase" ? t.paraphraseRecall : t.recall),
    ) && reasonrl.lookalike_false_positives <= t.lookalikeFalsePositives;
  return {
    cases_per_kind: perKind,
    benchmark_source: source,
    reasonrl,
    open_r1: openR1,
    rows_per_s: Math.round(cases.length / seconds),
    meets_targets: meets,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(7);

/** A table of both rules' figures. */
export function describeQuality(q: CurateQuality): string {
  const rows = TRANSFORMATIONS.map(
    (k) => `    ${k.padEnd(26)} ${pct(q.reasonrl.recall[k])}  ${pct(q.open_r1.recall[k])}`,
  );
  return [
    `  labelled set (${q.cases_per_kind} cases per kind, from ${q.benchmark_source}):`,
    `    ${"recall".padEnd(26)} reasonrl  open-r1 8-gram`,
    ...rows,
    `    ${"look-alikes dropped (FP)".padEnd(26)} ${pct(q.reasonrl.lookalike_false_positives)}  ${pct(q.open_r1.lookalike_false_positives)}`,
    `    targets: recall >= ${pct(QUALITY_TARGETS.recall).trim()} (paraphrase >= ${pct(QUALITY_TARGETS.paraphraseRecall).trim()}), ` +
      `FP <= ${pct(QUALITY_TARGETS.lookalikeFalsePositives).trim()}: ${q.meets_targets ? "met" : "NOT met"}`,
  ].join("\n");
}
