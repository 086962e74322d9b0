/** A recipe's rewards as GRPO's reward function: accuracy by the verifier plus format, with metrics. */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { rewardFunction } from "../../src/rewards/reward-function.ts";
import { VerifierPool } from "../../src/verify/pool.ts";

const pool = new VerifierPool({ workers: 1 });
after(() => pool.close());

const row = { problem: "What is 6*7?", answer: "42" };
const inputs = [
  "<think>\n6*7=42\n</think>\n\\boxed{42}",
  "<think>\nguess\n</think>\n\\boxed{41}",
  "no format, 42",
].map((text) => ({ prompt: "What is 6*7?", completion: { text, tokenIds: [1] }, row }));

test("weighted total per completion, each term's mean and the training samples' accuracy", async () => {
  const reward = await rewardFunction(
    {
      rewards: [
        { name: "accuracy", weight: 2 },
        { name: "format", weight: 1 },
      ],
    },
    { verifier: pool, warn: () => {} },
  );
  const { rewards, metrics } = await reward(inputs);
  assert.equal(rewards.length, 3);
  assert.ok(rewards[0] > rewards[1] && rewards[1] >= rewards[2], `rewards ${Array.from(rewards)}`);
  assert.ok(Math.abs(metrics.train_accuracy - 1 / 3) < 1e-9, `accuracy ${metrics.train_accuracy}`);
  assert.equal(metrics.reward_accuracy, metrics.train_accuracy);
  assert.ok(Math.abs(metrics.reward_format - 2 / 3) < 1e-9, `format mean ${metrics.reward_format}`);
});

test("accuracy is measured (weight 0) when the rewards do not include it; named set-ups work", async () => {
  const formatOnly = await rewardFunction(
    { rewards: [{ name: "format" }] },
    { verifier: pool, warn: () => {} },
  );
  const { rewards, metrics } = await formatOnly(inputs);
  assert.deepEqual(Array.from(rewards), [1, 1, 0]);
  assert.ok(Math.abs(metrics.train_accuracy - 1 / 3) < 1e-9);
  const paper = await rewardFunction("open-rs-accuracy", { verifier: pool, warn: () => {} });
  assert.deepEqual(Array.from((await paper(inputs)).rewards), [3, 1, 0]);
});
