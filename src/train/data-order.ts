/**
 * The order a run visits its data in: consecutive slices of a seeded shuffle,
 * one shuffle per epoch. The items of a step are a function of (dataset size,
 * items per step, step, seed) alone, so a resumed run sees the same items as
 * an uninterrupted one without storing any position.
 */
import { seededRandom } from "../model/random.ts";

/** Indices (into a dataset of `count` items) of step `step` (0-based), `perStep` of them. */
export function itemsOfStep(count: number, perStep: number, step: number, seed: number): number[] {
  if (count <= 0) throw new Error("data order: the dataset is empty");
  const out: number[] = [];
  for (let k = step * perStep; k < (step + 1) * perStep; k++) {
    const epoch = Math.floor(k / count);
    out.push(shuffled(count, seed * 7919 + epoch)[k % count]);
  }
  return out;
}

/** The last few shuffles, by (count, seed): a run asks for the same one every step of an epoch. */
const shuffles = new Map<string, number[]>();

function shuffled(count: number, seed: number): number[] {
  const key = `${count}:${seed}`;
  let order = shuffles.get(key);
  if (!order) {
    const rand = seededRandom(seed);
    order = Array.from({ length: count }, (_, i) => i);
    for (let i = count - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    if (shuffles.size >= 8) shuffles.delete(shuffles.keys().next().value as string);
    shuffles.set(key, order);
  }
  return order;
}
