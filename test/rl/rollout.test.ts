/** The rollout numbers each prompt's group, so rewards that compare completions see one group at a time. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Completion, Generator } from "../../src/generate/types.ts";
import { rewardFunction } from "../../src/rewards/reward-function.ts";
import type { RewardInput } from "../../src/rewards/types.ts";
import { rollOut } from "../../src/rl/rollout.ts";
import { rolloutSamples } from "../../src/rl/rollout-samples.ts";
import { verifySync } from "../../src/verify/verify.ts";
import { promptsOf, rewardOf } from "./helpers.ts";

/** A generator whose k-th sample of prompt p has (p + 1) * 10 * (k + 1) tokens and a correct boxed answer. */
const lengthy: Generator = {
  async generate(prompts, options) {
    const n = options?.n ?? 1;
    return prompts.map((_, p) =>
      Array.from(
        { length: n },
        (_, k): Completion => ({
          ids: new Int32Array((p + 1) * 10 * (k + 1)),
          text: "$\\boxed{4}$",
          logprobs: new Float32Array((p + 1) * 10 * (k + 1)),
          finishReason: "stop",
        }),
      ),
    );
  },
};
const options = { groupSize: 3, temperature: 1, maxTokens: 100, dynamicSampling: false as const };
// Both prompts read the same (a duplicated problem): only the group numbers keep their groups apart.
const prompts = promptsOf([[1], [2]]).map((p) => ({ ...p, text: "same", row: { ...p.row, answer: "4" } }));

test("each completion carries its prompt's place in the batch as its group", async () => {
  const seen: RewardInput[] = [];
  const spy = rewardOf((inputs) => {
    seen.push(...inputs);
    return inputs.map(() => 0);
  });
  await rollOut(lengthy, prompts, undefined, spy, options, 1);
  assert.deepEqual(
    seen.map((x) => x.group),
    [0, 0, 0, 1, 1, 1],
  );
});

test("Kimi's length reward ranks each group's lengths on their own", async () => {
  const ctx = {
    verifier: { verify: async (g: string, p: string, o?: object) => verifySync(g, p, o) },
    warn() {},
  };
  const reward = await rewardFunction({ rewards: [{ name: "length", weight: 1 }] }, ctx);
  const r = await rollOut(lengthy, prompts, undefined, reward, options, 1);
  // group 0: 10, 20, 30 tokens; group 1: 20, 40, 60 tokens; all correct
  assert.deepEqual(
    r.groups.map((g) => Array.from(g.rewards)),
    [
      [0.5, 0, -0.5],
      [0.5, 0, -0.5],
    ],
  );
});

test("rollout samples: each completion with its terms, total, group and advantage", async () => {
  const ctx = {
    verifier: { verify: async (g: string, p: string, o?: object) => verifySync(g, p, o) },
    warn() {},
  };
  const reward = await rewardFunction({ rewards: [{ name: "length", weight: 2 }] }, ctx);
  const r = await rollOut(lengthy, prompts, undefined, reward, options, 1);
  const samples = rolloutSamples(r, { groupSize: 3, scaleRewards: "none" });
  assert.equal(samples.length, 6);
  assert.deepEqual(
    samples.map((s) => [s.group, s.index, s.tokens]),
    [
      [0, 0, 10],
      [0, 1, 20],
      [0, 2, 30],
      [1, 0, 20],
      [1, 1, 40],
      [1, 2, 60],
    ],
  );
  // The term's own value (0.5, 0, -0.5), the weighted total (x 2), the advantage (total - group mean).
  assert.deepEqual(samples[0].rewards, { length: 0.5, accuracy: 1 });
  assert.equal(samples[0].reward, 1);
  assert.equal(samples[2].advantage, -1);
  assert.equal(samples[4].prompt, "same");
});

test("rollout samples: a group dynamic sampling dropped has no advantage", async () => {
  const constant = rewardOf((inputs) => inputs.map(() => 1));
  const r = await rollOut(
    lengthy,
    prompts,
    undefined,
    constant,
    { ...options, dynamicSampling: { maxRounds: 1 } },
    1,
  );
  const samples = rolloutSamples(r, { groupSize: 3, scaleRewards: "group" });
  assert.equal(r.kept.length, 0);
  assert.deepEqual(
    samples.map((s) => s.advantage),
    [null, null, null, null, null, null],
  );
});
