/**
 * Token sampling from one row of logits: temperature, top-k, top-p (nucleus),
 * min-p, greedy at temperature 0, with a seeded generator per sequence so a
 * sequence's samples do not depend on what else is in the batch.
 */
import { z } from "zod";
import { seededRandom } from "../model/random.ts";

export const SamplingOptions = z.object({
  /** Softmax temperature; 0 picks the most likely token (greedy). The paper samples at 0.7. */
  temperature: z.number().min(0).default(1),
  /** Keep the smallest set of tokens whose probability reaches top_p (1 = off). */
  topP: z.number().gt(0).max(1).default(1),
  /** Keep the k most likely tokens (0 = off). */
  topK: z.number().int().min(0).default(0),
  /** Drop tokens less likely than min_p times the most likely one (0 = off). */
  minP: z.number().min(0).max(1).default(0),
  /** New tokens at most. */
  maxTokens: z.number().int().positive().default(256),
  /** Samples per prompt. */
  n: z.number().int().positive().default(1),
  /** Seed of the per-sequence generators. */
  seed: z.number().int().default(0),
  /** Strings that end a completion (excluded from its text). */
  stop: z.array(z.string()).default([]),
});
export type SamplingOptions = z.output<typeof SamplingOptions>;

/** The generator of sequence `index` (sample j of prompt i is index i * n + j). */
export function sequenceRandom(seed: number, index: number): () => number {
  return seededRandom(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));
}

/**
 * Picks a token from `logits` (one row, length V). Returns it with its
 * log-probability under the temperature-scaled distribution before top-k/p/min-p
 * filtering (what TRL's GRPO recomputes as the policy's per-token log-prob).
 */
export function sampleToken(
  logits: Float32Array,
  opts: Pick<SamplingOptions, "temperature" | "topP" | "topK" | "minP">,
  random: () => number,
): { token: number; logprob: number } {
  const V = logits.length;
  const temperature = opts.temperature > 0 ? opts.temperature : 1;
  let max = Number.NEGATIVE_INFINITY;
  let argmax = 0;
  for (let i = 0; i < V; i++) {
    if (logits[i] > max) {
      max = logits[i];
      argmax = i;
    }
  }
  // log-sum-exp of logits / T, for the returned log-prob
  let sum = 0;
  for (let i = 0; i < V; i++) sum += Math.exp((logits[i] - max) / temperature);
  const logZ = Math.log(sum);
  const logprob = (t: number) => (logits[t] - max) / temperature - logZ;
  if (opts.temperature === 0) return { token: argmax, logprob: logprob(argmax) };

  // Candidates by descending probability, filtered by top-k, min-p and top-p.
  let order = Array.from({ length: V }, (_, i) => i);
  if (opts.topK > 0 && opts.topK < V) order = partialTop(logits, opts.topK);
  else order.sort((a, b) => logits[b] - logits[a]);
  const probs = order.map((t) => Math.exp(logprob(t)));
  let keep = order.length;
  if (opts.minP > 0) {
    const floor = opts.minP * probs[0];
    while (keep > 1 && probs[keep - 1] < floor) keep--;
  }
  if (opts.topP < 1) {
    let acc = 0;
    for (let i = 0; i < keep; i++) {
      acc += probs[i];
      if (acc >= opts.topP) {
        keep = i + 1;
        break;
      }
    }
  }
  let total = 0;
  for (let i = 0; i < keep; i++) total += probs[i];
  let r = random() * total;
  for (let i = 0; i < keep; i++) {
    r -= probs[i];
    if (r < 0) return { token: order[i], logprob: logprob(order[i]) };
  }
  return { token: order[keep - 1], logprob: logprob(order[keep - 1]) };
}

/** Indices of the k largest logits, largest first. */
function partialTop(logits: Float32Array, k: number): number[] {
  const top: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    if (top.length === k && logits[i] <= logits[top[k - 1]]) continue;
    let j = top.length === k ? k - 1 : top.length;
    if (top.length < k) top.push(i);
    while (j > 0 && logits[top[j - 1]] < logits[i]) {
      top[j] = top[j - 1];
      j--;
    }
    top[j] = i;
  }
  return top;
}
