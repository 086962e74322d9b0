/** `planRun` plans a recipe's memory from its model folder and times a probe; `assertRunFits` refuses with the numbers and the fix. */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { assertRunFits, planRun } from "../../src/rl/plan.ts";
import { parseRecipe } from "../../src/rl/recipe.ts";
import { createTinyQwen } from "../model/tiny-qwen.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-plan-"));
after(() => rm(root, { recursive: true, force: true }));
const modelDir = join(root, "tiny");
await createTinyQwen(modelDir, { hidden: 32, layers: 2 });

function recipe(grpo: Record<string, unknown> = {}, model: Record<string, unknown> = {}) {
  return parseRecipe({
    name: "plan-test",
    model: { path: modelDir, ...model },
    data: { train: { path: "unused.jsonl" } },
    grpo: {
      steps: 1,
      promptsPerStep: 4,
      groupSize: 4,
      maxTokens: 96,
      maxPromptTokens: 32,
      rewards: "open-rs-accuracy",
      optimizer: { lr: 1e-5 },
      ...grpo,
    },
  });
}

test("a plan holds every part of the memory and a measured time per step", async () => {
  const plan = await planRun(recipe({}, { lora: { rank: 4 } }), { threads: 1 });
  assert.equal(plan.device, "cpu");
  assert.equal(plan.completions, 16);
  assert.equal(plan.input.rows, 16);
  assert.equal(plan.input.tokens, 128);
  const m = plan.memory;
  for (const part of [m.weights, m.adapters, m.optimizer, m.kvCache, m.activations]) assert.ok(part > 0);
  assert.equal(m.reference, 0);
  assert.ok(m.total >= m.weights + m.adapters + m.optimizer + m.activations);
  assert.ok(plan.time && plan.time.generation_s > 0 && plan.time.training_s > 0);
  assert.equal(plan.time.step_s, plan.time.generation_s + plan.time.training_s);

  const smaller = await planRun(recipe({ microBatch: 4 }, { lora: { rank: 4 } }), { probe: false });
  assert.equal(smaller.time, null);
  assert.ok(smaller.memory.activations < m.activations, "a smaller micro-batch needs less");
});

test("a run that cannot fit is refused with its numbers and the settings to change", async () => {
  const plan = await planRun(recipe(), { probe: false });
  assert.doesNotThrow(() => assertRunFits(plan, plan.memory.total));
  const resident = plan.memory.total - Math.max(plan.memory.activations, plan.memory.kvCache);
  const tight = resident + plan.memory.activations / 3;
  assert.throws(
    () => assertRunFits(plan, tight),
    (err: Error) =>
      /needs \d+\.\d\d GiB at its peak/.test(err.message) &&
      /activations \d+\.\d\d GiB per micro-batch of 16 x 128 tokens/.test(err.message) &&
      /grpo\.microBatch: \d+/.test(err.message),
  );
  assert.throws(() => assertRunFits(plan, 1e6), /Change: /);
});

test("a missing model folder is named", async () => {
  await assert.rejects(
    planRun(recipe({}, { path: join(root, "nowhere") }), { probe: false }),
    /model\.path .*nowhere.*config\.json/,
  );
});
