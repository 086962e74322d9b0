/**
 * Every seed a training run uses, derived from the recipe's one `seed` here
 * and nowhere else, so that what a step samples depends only on (seed, step)
 * and a resumed run repeats an uninterrupted one exactly.
 *
 *   data order      `seed`: the shuffles of src/train/data-order.ts
 *   extra prompts   `seed + 104729`: the order dynamic sampling draws more prompts in
 *   rollouts        `seed * 1000003 + step` for a step's first generation round,
 *                   then mixed with the round number for each later round (dynamic sampling)
 *
 * (A model made from scratch and LoRA adapters take `seed` as it is; held-out
 * evaluation has its own seed in the recipe.)
 */

/** The seeds of a run with seed `seed`. */
export const runSeeds = {
  /** The seed of the order a stage draws its items in (prompts, SFT examples). */
  dataOrder(seed: number): number {
    return seed;
  },
  /** The seed of the order dynamic sampling draws its extra prompts in, apart from the steps' own. */
  extraPrompts(seed: number): number {
    return seed + 104729;
  },
  /** The sampling seed of step `step` (0-based): its first generation round's. */
  step(seed: number, step: number): number {
    return seed * 1000003 + step;
  },
  /**
   * The sampling seed of generation round `round` (0, 1, ...) of a step whose
   * seed is `stepSeed`: the step's own for the first round, then one mixed from
   * both, so that rounds (and the next steps' seeds, stepSeed + 1, ...) sample differently.
   */
  round(stepSeed: number, round: number): number {
    if (round === 0) return stepSeed;
    return Math.imul(stepSeed ^ 0x5bd1e995, 0x27d4eb2d) ^ Math.imul(round, 0x165667b1);
  },
};
