/**
 * A full fine-tune (no LoRA) with its rollouts on a fake SGLang (test/generate/fleet-fakes.ts):
 * before the first step and after each update the whole model is written to adapterDir/step-N
 * (config, safetensors, tokenizer: a model folder SGLang can read) and every server reloads it
 * from disk (POST /update_weights_from_disk); only the last keepAdapters folders stay.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseRecipe } from "../../src/rl/recipe.ts";
import { runRecipe } from "../../src/rl/run.ts";
import { fakeServer } from "../generate/fleet-fakes.ts";
import { tinyRunRecipe } from "./helpers.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-fleet-sglang-"));
const sglang = await fakeServer("sglang");
after(async () => {
  await sglang.close();
  await rm(root, { recursive: true, force: true });
});

test("full fine-tuning on SGLang: each step's weights written as a model folder and reloaded from disk", async () => {
  const adapterDir = join(root, "weights");
  // Whether the folder was a complete model folder when SGLang was told to reload it.
  const complete: boolean[] = [];
  sglang.fail = (call) => {
    if (call.path === "/update_weights_from_disk")
      complete.push(
        ["config.json", "model.safetensors", "tokenizer.json"].every((f) =>
          existsSync(join(call.body.model_path, f)),
        ),
      );
    return null;
  };
  const { sft: _, eval: __, ...base } = tinyRunRecipe();
  const recipe = parseRecipe({
    ...base,
    runsDir: join(root, "runs"),
    model: { ...(base.model as object), path: join(root, "model") },
    grpo: { ...(base.grpo as object), steps: 2 },
    rollout: {
      endpoints: [sglang.url],
      protocol: "sglang",
      servedModel: "base",
      adapterDir,
      keepAdapters: 1,
    },
  });
  await runRecipe(recipe, { log: () => {}, warn: () => {} });
  const calls = sglang.calls.map((c) =>
    c.path === "/generate" ? "generate" : `${c.path} ${c.body.model_path.slice(adapterDir.length + 1)}`,
  );
  assert.deepEqual(calls, [
    "/update_weights_from_disk step-0",
    "generate",
    "generate",
    "/update_weights_from_disk step-1",
    "generate",
    "generate",
    "/update_weights_from_disk step-2",
  ]);
  assert.deepEqual(complete, [true, true, true]);
  // no adapter: generation asks for the base model
  assert.ok(sglang.calls.filter((c) => c.path === "/generate").every((c) => c.body.lora_path === undefined));
  assert.deepEqual(await readdir(adapterDir), ["step-2"]);
});
