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
  assert.ok(files.length >= 5, `recipes: ${files}`);
  for (const f of files) await loadRecipe(join("recipes", f));
  const format = { name: "format", weight: 1, params: { variant: "think-close" } };
  const accuracy = { name: "accuracy_upstream", weight: 2, params: {} };
  const cosine = {
    name: "cosine_upstream",
    weight: 2,
    params: {
      maxLength: 3584,
      minValueCorrect: 0.5,
      maxValueCorrect: 1,
      minValueWrong: 0,
      maxValueWrong: -0.5,
    },
  };
  for (const [name, maxTokens, reward, system] of [
    ["open-rs1", 4096, accuracy, "open-rs-no-language"],
    ["open-rs2", 3584, accuracy, "open-rs-no-language"],
    ["open-rs3", 3584, cosine, "open-rs"],
  ] as const) {
    const r = await loadRecipe(`recipes/${name}.yaml`);
    const g = r.grpo;
    assert.ok(g);
    assert.equal(g.maxTokens, maxTokens, name);
    assert.ok(typeof g.rewards === "object", name);
    assert.deepEqual(
      g.rewards.rewards.map(({ name, weight, params }) => ({ name, weight, params })),
      [format, reward],
      name,
    );
    assert.equal(r.prompt.system, system, name);
    assert.deepEqual(
      [g.groupSize, g.promptsPerStep, g.maxPromptTokens, g.temperature, g.loss.beta, g.loss.epsLow],
      [6, 12, 512, 0.7, 0.04, 0.2],
    );
    assert.deepEqual(
      [g.loss.lossType, g.numIterations, g.scaleRewards, g.logitsAtSamplingTemperature],
      ["bnpo_per_group", 1, "group", false],
      name,
    );
    assert.deepEqual([g.optimizer.lr, g.optimizer.maxGradNorm, g.optimizer.weightDecay], [1e-6, 1, 0]);
    assert.deepEqual(g.schedule, { kind: "cosine_with_min_lr", warmupRatio: 0.1, minLrRate: 0.1 });
    assert.equal(g.steps, 500);
    assert.equal(r.seed, 42);
  }
});

test("open-rs3-tokens is open-rs3 with the fixed cosine (tokens, clamped) and nothing else changed", async () => {
  const [paper, fixed] = [
    await loadRecipe("recipes/open-rs3.yaml"),
    await loadRecipe("recipes/open-rs3-tokens.yaml"),
  ];
  assert.ok(paper.grpo && fixed.grpo && typeof fixed.grpo.rewards === "object");
  const cosine = fixed.grpo.rewards.rewards[1];
  assert.equal(cosine.name, "cosine");
  assert.deepEqual(
    [cosine.weight, cosine.params.unit, cosine.params.clampRatio, cosine.params.maxLength],
    [2, "tokens", true, 3584],
  );
  const rest = (r: typeof paper) => ({ ...r, name: "", grpo: { ...r.grpo, rewards: null } });
  assert.deepEqual(rest(fixed), rest(paper));
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
