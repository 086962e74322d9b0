/** Held-out accuracy: Wilson intervals against known values; grading by the verifier. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { accuracyOf, heldoutAccuracy, wilsonInterval } from "../../src/eval/accuracy.ts";
import type { Completion, Generator } from "../../src/generate/types.ts";
import { verifySync } from "../../src/verify/verify.ts";

test("Wilson 95% intervals match published values", () => {
  const near = (a: [number, number], b: [number, number]) =>
    assert.ok(Math.abs(a[0] - b[0]) < 1e-4 && Math.abs(a[1] - b[1]) < 1e-4, `${a} vs ${b}`);
  near(wilsonInterval(50, 100), [0.4038, 0.5962]);
  near(wilsonInterval(0, 10), [0, 0.2775]);
  near(wilsonInterval(10, 10), [0.7225, 1]);
  assert.deepEqual(wilsonInterval(0, 0), [0, 1]);
  assert.equal(accuracyOf(3, 4).accuracy, 0.75);
});

test("heldoutAccuracy grades one completion per prompt", async () => {
  const texts = ["\\boxed{4}", "\\boxed{5}", "so it is $\\frac12$"];
  const generator: Generator = {
    async generate(prompts, options) {
      assert.equal(options?.n, 1);
      return prompts.map((_, i): Completion[] => [
        { ids: Int32Array.from([1, 2]), text: texts[i], logprobs: new Float32Array(2), finishReason: "stop" },
      ]);
    },
  };
  const prompts = [0, 1, 2].map(() => Int32Array.from([7]));
  const r = await heldoutAccuracy(generator, prompts, ["4", "4", "0.5"], async (g, p) => verifySync(g, p), {
    temperature: 0,
    maxTokens: 8,
  });
  assert.deepEqual([r.correct, r.n], [2, 3]);
  assert.deepEqual(
    r.completions.map((c) => c.correct),
    [true, false, true],
  );
  await assert.rejects(
    heldoutAccuracy(generator, prompts, ["1"], async (g, p) => verifySync(g, p), {
      temperature: 0,
      maxTokens: 8,
    }),
    /3 prompts but 1 gold/,
  );
});
