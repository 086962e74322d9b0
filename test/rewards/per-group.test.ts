/**
 * Rewards that compare completions see one prompt's group at a time: by the
 * inputs' group numbers, or by runs of the same prompt text where they have none.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { composeRewards } from "../../src/rewards/compose.ts";
import { createReward } from "../../src/rewards/registry.ts";
import { perGroup, type RewardInput } from "../../src/rewards/types.ts";
import { context, input } from "./helpers.ts";

const row = { answer: "\\frac{1}{2}" };
const RIGHT = "$\\boxed{1/2}$";

/** A completion of prompt `prompt`, in group `group`, with `tokens` tokens. */
const member = (group: number | undefined, tokens: number, prompt = `Q${group}`): RewardInput => ({
  ...input(RIGHT, row, tokens),
  prompt,
  ...(group === undefined ? {} : { group }),
});

describe("perGroup", () => {
  it("calls the reward once per group, with that group's inputs only, and keeps the inputs' order", async () => {
    const seen: number[][] = [];
    const spy = perGroup((inputs) => {
      seen.push(inputs.map((x) => x.completion.tokenIds.length));
      return inputs.map((x) => x.completion.tokenIds.length * 10 + (x.group ?? -1));
    });
    const inputs = [member(0, 1), member(1, 2), member(0, 3), member(1, 4)];
    assert.deepEqual(await spy(inputs, context()), [10, 21, 30, 41]);
    assert.deepEqual(
      seen.sort((a, b) => a[0] - b[0]),
      [
        [1, 3],
        [2, 4],
      ],
    );
  });

  it("without group numbers, consecutive inputs of the same prompt form a group", async () => {
    const seen: string[][] = [];
    const spy = perGroup((inputs) => {
      seen.push(inputs.map((x) => x.prompt));
      return inputs.map(() => 0);
    });
    await spy(
      [
        member(undefined, 1, "A"),
        member(undefined, 1, "A"),
        member(undefined, 1, "B"),
        member(undefined, 1, "A"),
      ],
      context(),
    );
    assert.deepEqual(seen, [["A", "A"], ["B"], ["A"]]);
  });

  it("a reward that gives a group the wrong number of values fails", async () => {
    const bad = perGroup(() => [1]);
    await assert.rejects(async () => bad([member(0, 1), member(0, 2)], context()), /2/);
  });
});

describe("Kimi's length reward in a batch of several groups", () => {
  // group 0: 100, 200, 300 tokens; group 1: 10, 20 tokens (all correct)
  const batch = [member(0, 100), member(0, 200), member(0, 300), member(1, 10), member(1, 20)];

  it("ranks lengths within each group, not over the batch", async () => {
    const r = await createReward("length")(batch, context());
    assert.deepEqual(r, [0.5, 0, -0.5, 0.5, -0.5]);
    // over the whole batch (one group), 10 tokens would be the shortest: +0.5, and 100 tokens lower
    const whole = await createReward("length")(
      batch.map((x) => ({ ...x, group: 0 })),
      context(),
    );
    assert.notDeepEqual(whole, r);
  });

  it("through a composition of rewards too", async () => {
    const composed = await composeRewards({ rewards: [{ name: "length", weight: 1 }] });
    const s = await composed.score(batch, context());
    assert.deepEqual(s.total, [0.5, 0, -0.5, 0.5, -0.5]);
  });
});
