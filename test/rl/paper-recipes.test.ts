/**
 * The paper's recipe runs as shipped on the shared training data, with only the
 * model swapped for a tiny random Qwen2 carrying the real Qwen tokenizer (the
 * 1.5B weights are not here): the system prompt, chat template, 512-token prompt
 * cut and rewards all take the path a real run takes. Skips without ../shared.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { TOKENIZER_FILES } from "../../src/model/model-dir.ts";
import { loadRecipe } from "../../src/rl/recipe.ts";
import { runRecipe } from "../../src/rl/run.ts";
import { createTinyQwen } from "../model/tiny-qwen.ts";

const shared = join(import.meta.dirname, "../../../shared/data");
const skip = existsSync(join(shared, "train/math_train.jsonl"))
  ? false
  : "../shared/data is absent (a fresh clone)";
const root = await mkdtemp(join(tmpdir(), "reasonrl-paper-"));
after(() => rm(root, { recursive: true, force: true }));

test("recipes/open-rs2.yaml: one GRPO step on the shared MATH training problems", { skip }, async () => {
  assert.ok(TOKENIZER_FILES.length > 0);
  const model = join(root, "model");
  await createTinyQwen(model);
  const warnings: string[] = [];
  const recipe = await loadRecipe("recipes/open-rs2.yaml", [
    `runsDir=${root}`,
    `model.path=${model}`,
    `data.train.path=${join(shared, "train/math_train.jsonl")}`,
    "data.train.limit=40",
    `eval.data.path=${join(shared, "benchmarks/amc23.jsonl")}`,
    "eval.data.limit=4",
    "eval.maxTokens=8",
    "grpo.steps=1",
    "grpo.promptsPerStep=2",
    "grpo.maxTokens=8",
    "grpo.maxPromptTokens=96",
  ]);
  const summary = await runRecipe(recipe, { warn: (m) => warnings.push(m) });
  assert.equal(summary.grpo_steps, 1);
  assert.equal(summary.heldout, 4);
  assert.ok(
    warnings.some((w) => /prompts are longer than 96 tokens/.test(w)),
    warnings.join("\n"),
  );
  const config = await readFile(join(root, "open-rs2", "config.yaml"), "utf8");
  assert.match(config, /system: open-rs-no-language/);
  const [line] = (await readFile(join(root, "open-rs2", "metrics.jsonl"), "utf8"))
    .split("\n")
    .filter((l) => l.includes('"grpo"'))
    .map((l) => JSON.parse(l));
  assert.equal(line.step, 1);
  assert.equal(typeof line.reward_format, "number");
  assert.equal(typeof line.reward_accuracy_upstream, "number", "the paper's accuracy reward, as run");
  assert.equal(typeof line.reward_accuracy, "number", "train_accuracy's own judge, measured alongside");
});
