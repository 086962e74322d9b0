import assert from "node:assert/strict";
import { test } from "node:test";
import { learningRate } from "../../src/train/schedule.ts";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-15, `${a} vs ${b}`);

test("cosine_with_min_lr with warm-up, the paper's schedule (100 steps, ratio 0.1, min 0.1)", () => {
  const o = { lr: 1e-6, totalSteps: 100, warmupRatio: 0.1, minLrRate: 0.1 };
  close(learningRate(0, o), 0);
  close(learningRate(5, o), 5e-7);
  close(learningRate(10, o), 1e-6);
  close(learningRate(55, o), 1e-6 * (0.5 * (1 - 0.1) + 0.1)); // halfway through the decay
  close(learningRate(100, o), 1e-7);
});

test("cosine, linear and constant", () => {
  close(learningRate(50, { lr: 2, totalSteps: 100, kind: "cosine" }), 1);
  close(learningRate(75, { lr: 2, totalSteps: 100, kind: "linear" }), 0.5);
  close(learningRate(99, { lr: 2, totalSteps: 100, kind: "constant", warmupRatio: 0.5 }), 2);
  close(learningRate(25, { lr: 2, totalSteps: 100, kind: "constant", warmupRatio: 0.5 }), 1);
});

test("bad options name the field", () => {
  assert.throws(() => learningRate(0, { lr: -1, totalSteps: 10 }), /lr/);
});
