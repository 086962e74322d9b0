/** Recipes: the shipped ones parse, --set overrides by dotted path, errors name the field. */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { stringify } from "yaml";
import { loadRecipe, parseRecipe } from "../../src/rl/recipe.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-recipe-"));
after(() => rm(root, { recursive: true, force: true }));

test("every shipped recipe is valid, with the paper's values in open-rs1/2/3", async () => {
  const files = (await readdir("recipes")).filter((f) => f.endsWith(".yaml"));
  assert.ok(files.length >= 4, `recipes: ${files}`);
  for (const f of files) await loadRecipe(join("recipes", f));
  for (const [name, maxTokens, rewards, system] of [
    ["open-rs1", 4096, "open-rs-accuracy", "open-rs-no-language"],
    ["open-rs2", 3584, "open-rs-accuracy", "open-rs-no-language"],
    ["open-rs3", 3584, "open-rs-cosine", "open-rs"],
  ] as const) {
    const r = await loadRecipe(`recipes/${name}.yaml`);
    const g = r.grpo;
    assert.ok(g);
    assert.equal(g.maxTokens, maxTokens, name);
    assert.equal(g.rewards, rewards, name);
    assert.equal(r.prompt.system, system, name);
    assert.deepEqual(
      [g.groupSize, g.promptsPerStep, g.temperature, g.loss.beta, g.optimizer.lr, g.optimizer.maxGradNorm],
      [6, 12, 0.7, 0.04, 1e-6, 1],
    );
    assert.deepEqual(g.schedule, { kind: "cosine_with_min_lr", warmupRatio: 0.1, minLrRate: 0.1 });
    assert.equal(r.seed, 42);
  }
});

test("--set overrides nested fields with YAML scalars", async () => {
  const r = await loadRecipe("recipes/open-rs2.yaml", [
    "grpo.steps=10",
    "model.path=/models/x",
    "grpo.loss.beta=0",
    "eval.data.limit=5",
  ]);
  assert.equal(r.grpo?.steps, 10);
  assert.equal(r.model.path, "/models/x");
  assert.equal(r.grpo?.loss.beta, 0);
  assert.equal((r.eval?.data as { limit?: number } | undefined)?.limit, 5);
});

test("--set reaches list items by index or name; model.dtype and model.device", async () => {
  const path = join(root, "rewards.yaml");
  await writeFile(
    path,
    stringify({
      name: "r",
      model: { path: "m" },
      data: { train: { path: "t.jsonl" } },
      grpo: {
        steps: 1,
        promptsPerStep: 1,
        groupSize: 2,
        maxTokens: 8,
        optimizer: { lr: 1e-6 },
        rewards: { rewards: [{ name: "format" }, { name: "accuracy", weight: 2 }] },
      },
    }),
  );
  const r = await loadRecipe(path, [
    "grpo.rewards.rewards.0.weight=0.5",
    "grpo.rewards.rewards.accuracy.weight=1",
    "model.dtype=bf16",
    "model.device=vulkan:0",
  ]);
  const rewards = r.grpo?.rewards;
  assert.ok(rewards && typeof rewards !== "string");
  assert.deepEqual(
    rewards.rewards.map((x) => x.weight),
    [0.5, 1],
  );
  assert.equal(r.model.dtype, "bf16");
  assert.equal(r.model.device, "vulkan:0");
  const defaults = await loadRecipe(path);
  assert.equal(defaults.model.dtype, "f32");
  assert.equal(defaults.model.device, "cpu");
  await assert.rejects(loadRecipe(path, ["model.dtype=f8"]), /model\.dtype/);
  await assert.rejects(loadRecipe(path, ["grpo.rewards.rewards.cosine.weight=1"]), /no item "cosine"/);
  await assert.rejects(loadRecipe(path, ["novalue"]), /expected key.path=value/);
});

test("invalid recipes are refused with the file and the field", async () => {
  const path = join(root, "bad.yaml");
  await writeFile(path, "name: x\nmodel: {path: m}\ndata: {train: {path: t.jsonl}}\ngrpo: {steps: 0}\n");
  await assert.rejects(loadRecipe(path), (e: Error) => {
    assert.match(e.message, /bad\.yaml: invalid recipe/);
    assert.match(e.message, /grpo\.steps/);
    assert.match(e.message, /grpo\.groupSize/);
    return true;
  });
  await assert.rejects(loadRecipe(path, ["grpo.stepz=3"]), /grpo: Unrecognized key.*stepz|stepz/);
  assert.throws(
    () => parseRecipe({ name: "x", model: { path: "m" }, data: { train: { path: "t" } } }),
    /needs an sft or a grpo section/,
  );
  await writeFile(path, "name: [unclosed\n");
  await assert.rejects(loadRecipe(path), /bad\.yaml/);
});
