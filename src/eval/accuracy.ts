/**
 * Held-out accuracy: one sampled (or greedy) completion per problem, graded by
 * the math verifier against the gold answer, reported with a 95% Wilson score
 * interval (sound at small n and near 0 or 1, unlike the normal approximation).
 */
import type { Generator } from "../generate/types.ts";
import type { VerifyResult } from "../verify/verify.ts";

/** An accuracy with its 95% confidence interval. */
export interface Accuracy {
  accuracy: number;
  correct: number;
  n: number;
  /** 95% Wilson score interval [low, high]. */
  ci95: [number, number];
}

/** The 95% Wilson score interval of `correct` successes in `n` trials. */
export function wilsonInterval(correct: number, n: number, z = 1.959964): [number, number] {
  if (n === 0) return [0, 1];
  const p = correct / n;
  const denom = 1 + (z * z) / n;
  const center = (p + (z * z) / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denom;
  return [Math.max(0, center - half), Math.min(1, center + half)];
}

/** Accuracy of `correct` out of `n`, with its interval. */
export function accuracyOf(correct: number, n: number): Accuracy {
  return { accuracy: n ? correct / n : 0, correct, n, ci95: wilsonInterval(correct, n) };
}

/** How the held-out completions are sampled (the paper's evaluation: T 0.6, top_p 0.95, one sample). */
export interface EvalSampling {
  temperature: number;
  topP?: number;
  maxTokens: number;
  seed?: number;
}

/** One graded completion. */
export interface GradedCompletion {
  text: string;
  correct: boolean;
  finishReason: string;
  tokens: number;
}

/**
 * Generates one completion per prompt (token ids) and grades it against `golds` with `verify`
 * (e.g. a VerifierPool's verify, with its time limit). A verifier failure counts as wrong.
 */
export async function heldoutAccuracy(
  generator: Generator,
  prompts: Int32Array[],
  golds: string[],
  verify: (gold: string, pred: string) => Promise<VerifyResult>,
  sampling: EvalSampling,
): Promise<Accuracy & { completions: GradedCompletion[] }> {
  if (prompts.length !== golds.length)
    throw new Error(`eval: ${prompts.length} prompts but ${golds.length} gold answers`);
  const groups = await generator.generate(prompts, { n: 1, ...sampling });
  const completions = await Promise.all(
    groups.map(async ([c], i) => {
      const correct = await verify(golds[i], c.text).then(
        (r) => r.equivalent,
        () => false,
      );
      return { text: c.text, correct, finishReason: c.finishReason, tokens: c.ids.length };
    }),
  );
  const correct = completions.filter((c) => c.correct).length;
  return { ...accuracyOf(correct, completions.length), completions };
}
