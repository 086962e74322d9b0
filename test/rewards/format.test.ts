import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createReward } from "../../src/rewards/registry.ts";
import { context, input } from "./helpers.ts";

const score = async (name: string, params: unknown, texts: string[]) =>
  createReward(name, params)(
    texts.map((t) => input(t)),
    context(),
  );

describe("format", () => {
  it('think-close (the paper): "\\n</think>\\n" exactly once', async () => {
    assert.deepEqual(
      await score("format", {}, [
        "reasoning\n</think>\nThe answer is 3.",
        "no closing tag",
        "a\n</think>\nb\n</think>\nc",
        "a</think> b",
      ]),
      [1, 0, 0, 0],
    );
  });

  it("think-answer (open-r1): the whole layout, anchored at the start, trailing lines tolerated", async () => {
    assert.deepEqual(
      await score("format", { variant: "think-answer" }, [
        "<think>\nr\n</think>\n<answer>\n42\n</answer>",
        "<think>\nr\n</think>\n<answer>\n42\n</answer>\nextra line",
        "x<think>\nr\n</think>\n<answer>\n42\n</answer>",
        "<think>\nr\n</think>\n42",
      ]),
      [1, 1, 0, 0],
    );
  });

  it("think-then-answer: one reasoning block (opened by the prompt or the text), then an answer", async () => {
    assert.deepEqual(
      await score("format", { variant: "think-then-answer" }, [
        "<think>r</think> 42",
        "r</think>\n42",
        "<think>r</think>   ",
        "<think>a</think>b</think>c",
        "x<think>r</think>42",
      ]),
      [1, 1, 0, 0, 0],
    );
  });

  it("rejects an unknown variant, naming the parameter", () => {
    assert.throws(() => createReward("format", { variant: "xml" }), /parameter "variant"/);
  });
});

describe("tag_count", () => {
  it("open-rs: 0.5 per tag found exactly once", async () => {
    assert.deepEqual(
      await score("tag_count", {}, ["<think>\na\n</think>\nb", "a\n</think>\nb", "nothing"]),
      [1, 0.5, 0],
    );
  });

  it("open-r1: 0.25 per tag of four", async () => {
    const [full, half] = await score("tag_count", { variant: "open-r1" }, [
      "<think>\na\n</think>\n<answer>\nb\n</answer>",
      "<think>\na\n</think>\nb",
    ]);
    assert.equal(full, 1);
    assert.equal(half, 0.5);
  });
});
