/**
 * Picking from one row of next-token probabilities without sorting the
 * vocabulary: the most likely token (greedy decoding) and the k most likely
 * ones (the top log-probs a server reports).
 */

/** A token and its log-prob under the temperature-scaled distribution it was sampled from. */
export interface TokenLogprob {
  token: number;
  logprob: number;
}

/** The most likely token, the first one on ties (as sampleToken's greedy pick), in one tight pass. */
export function greedyToken(row: Float32Array): number {
  let best = 0;
  let bestP = row[0];
  for (let i = 1; i < row.length; i++) {
    const p = row[i];
    if (p > bestP) {
      bestP = p;
      best = i;
    }
  }
  return best;
}

/** The k most likely tokens of a row with their log-probs (f32 values), most likely first. */
export function topTokens(row: Float32Array, k: number): TokenLogprob[] {
  const ids: number[] = [];
  for (let i = 0; i < row.length; i++) {
    if (ids.length === k && !(row[i] > row[ids[k - 1]])) continue;
    let at = Math.min(ids.length, k - 1);
    while (at > 0 && row[i] > row[ids[at - 1]]) at--;
    if (ids.length === k) ids.pop();
    ids.splice(at, 0, i);
  }
  return ids.map((token) => ({ token, logprob: Math.fround(Math.log(row[token])) }));
}
