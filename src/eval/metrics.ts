/**
 * The numbers of an evaluation, as pure functions of graded samples.
 *
 * Per problem (n samples, c of them correct):
 * - pass@k, the unbiased estimator of the Codex paper (Chen et al. 2021):
 *   1 - C(n-c, k) / C(n, k), the chance that at least one of k samples drawn
 *   without replacement from the n is correct. pass@1 is then c / n, the mean
 *   over the n samples.
 * - maj@k: the answer given most often among the first k samples is the
 *   problem's answer (majority vote); the problem scores 1 if that answer is
 *   correct. Samples without an extracted answer do not vote; a tie goes to the
 *   answer that appeared first. Answers are grouped by the verifier's canonical
 *   rendering of the extracted answer (see grading.ts), so `\frac12` and `1/2`
 *   vote together, while `0.5` (a decimal) votes apart.
 *
 * Per benchmark, a metric is the mean of its per-problem scores, with a 95%
 * confidence interval by the normal approximation over problems: mean ± 1.96 ·
 * SE, SE = sample standard deviation of the per-problem scores / √problems
 * (the standard error lighteval reports), clipped to [0, 1]. Problems are the
 * unit of sampling, so the n samples of a problem are not counted as
 * independent trials. The average over benchmarks is their unweighted mean (as
 * the paper's "Avg"), its SE √(Σ SE_b²) / B (benchmarks independent).
 */

/** A metric's value with its uncertainty. */
export interface Estimate {
  value: number;
  /** Standard error of `value`. */
  stderr: number;
  /** 95% confidence interval [low, high], clipped to [0, 1]. */
  ci95: [number, number];
}

/** 1.96: the two-sided 95% quantile of the normal distribution. */
export const Z95 = 1.959964;

/**
 * The unbiased pass@k of one problem with `n` samples of which `correct` are right
 * (1 - C(n-c, k)/C(n, k), computed as a product so large n cannot overflow).
 */
export function passAtK(n: number, correct: number, k: number): number {
  if (!(Number.isInteger(n) && Number.isInteger(correct) && Number.isInteger(k)))
    throw new Error(`pass@k: n, c and k must be integers (n=${n}, c=${correct}, k=${k})`);
  if (k < 1 || k > n) throw new Error(`pass@k: k must be in 1..n (k=${k}, n=${n})`);
  if (correct < 0 || correct > n) throw new Error(`pass@k: c must be in 0..n (c=${correct}, n=${n})`);
  if (n - correct < k) return 1;
  // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i)
  let allWrong = 1;
  for (let i = n - correct + 1; i <= n; i++) allWrong *= 1 - k / i;
  return 1 - allWrong;
}

/** One sample's vote: its answer key (null: no answer extracted) and whether it was graded correct. */
export interface Vote {
  answer: string | null;
  correct: boolean;
}

/**
 * maj@k of one problem: 1 if the most frequent answer among the first `k` votes is correct,
 * else 0 (also when no sample gave an answer). Ties go to the answer that appeared first.
 */
export function majAtK(votes: readonly Vote[], k: number): number {
  if (k < 1 || k > votes.length) throw new Error(`maj@k: k must be in 1..${votes.length} (k=${k})`);
  const groups = new Map<string, { count: number; first: number; correct: boolean }>();
  votes.slice(0, k).forEach((v, i) => {
    if (v.answer === null) return;
    const g = groups.get(v.answer);
    if (g) g.count++;
    else groups.set(v.answer, { count: 1, first: i, correct: v.correct });
  });
  let best: { count: number; first: number; correct: boolean } | null = null;
  for (const g of groups.values()) {
    if (!best || g.count > best.count || (g.count === best.count && g.first < best.first)) best = g;
  }
  return best?.correct ? 1 : 0;
}

/** Mean of per-problem scores with its normal-approximation 95% interval (see the file comment). */
export function meanEstimate(scores: readonly number[]): Estimate {
  const m = scores.length;
  if (m === 0) return { value: 0, stderr: 0, ci95: [0, 1] };
  const value = scores.reduce((a, b) => a + b, 0) / m;
  if (m < 2) return { value, stderr: 0, ci95: [0, 1] };
  const variance = scores.reduce((a, x) => a + (x - value) ** 2, 0) / (m - 1);
  return withInterval(value, Math.sqrt(variance / m));
}

/** The unweighted mean of independent estimates (the average over benchmarks). */
export function averageEstimate(estimates: readonly Estimate[]): Estimate {
  const b = estimates.length;
  if (b === 0) return { value: 0, stderr: 0, ci95: [0, 1] };
  const value = estimates.reduce((a, e) => a + e.value, 0) / b;
  const stderr = Math.sqrt(estimates.reduce((a, e) => a + e.stderr ** 2, 0)) / b;
  return withInterval(value, stderr);
}

function withInterval(value: number, stderr: number): Estimate {
  return {
    value,
    stderr,
    ci95: [Math.max(0, value - Z95 * stderr), Math.min(1, value + Z95 * stderr)],
  };
}

/** The k values reported by default for n samples: powers of two below n, and n itself. */
export function defaultKs(n: number): number[] {
  const ks: number[] = [];
  for (let k = 1; k < n; k *= 2) ks.push(k);
  ks.push(n);
  return ks;
}
