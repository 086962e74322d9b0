/** Composed recipe rewards as GRPO rewards: accuracy by the verifier plus format. */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { composeRewards } from "../../src/rewards/compose.ts";
import { composedRewardFn } from "../../src/rl/rewards.ts";
import { VerifierPool } from "../../src/verify/pool.ts";

const pool = new VerifierPool({ workers: 1 });
after(() => pool.close());

test("weighted total per completion and each reward's mean", async () => {
  const rewards = await composeRewards({
    rewards: [
      { name: "accuracy", weight: 2 },
      { name: "format", weight: 1 },
    ],
  });
  const fn = composedRewardFn(
    rewards,
    [{ text: "What is 6*7?", row: { problem: "What is 6*7?", answer: "42" } }],
    { verifier: pool, warn: () => {} },
  );
  const texts = [
    "<think>\n6*7=42\n</think>\n\\boxed{42}",
    "<think>\nguess\n</think>\n\\boxed{41}",
    "no format, 42",
  ];
  const result = await fn(texts.map((text) => ({ prompt: 0, text, ids: Int32Array.from([1]) })));
  assert.ok("rewards" in result);
  const { rewards: totals, metrics: seen = {} } = result;
  assert.equal(totals.length, 3);
  assert.ok(totals[0] > totals[1] && totals[1] >= totals[2], `totals ${Array.from(totals)}`);
  assert.ok(Math.abs((seen.accuracy ?? -1) - 1 / 3) < 1e-9, `accuracy mean ${seen.accuracy}`);
  assert.equal(seen.reward_accuracy, seen.accuracy);
  assert.ok(Math.abs((seen.reward_format ?? -1) - 2 / 3) < 1e-9, `format mean ${seen.reward_format}`);
});
