/**
 * The weight sync of a LoRA GRPO run against a fake vLLM (test/generate/fleet-fakes.ts: a hono
 * app that records every call): before the first step and after each update the adapter is
 * written to adapterDir/step-N in PEFT's layout (complete when the server is told to load it),
 * loaded as "step-N", the next rollouts ask for "step-N", the previous adapter is unloaded, the
 * last keepAdapters folders are kept, and the run's end unloads the last one. Every call carries
 * the API key from the environment variable the recipe names.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseRecipe } from "../../src/rl/recipe.ts";
import { runRecipe } from "../../src/rl/run.ts";
import type { GrpoRecord } from "../../src/rl/trainer.ts";
import { RunFolder } from "../../src/train/run-folder.ts";
import { fakeServer, type RecordedCall } from "../generate/fleet-fakes.ts";
import { tinyRunRecipe } from "./helpers.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-fleet-vllm-"));
const vllm = await fakeServer("vllm", { model: "base" });

/** The fake vLLM's calls so far, one line each: "generate step-1", "load_lora_adapter step-2", ... */
function callLog(): string[] {
  return vllm.calls.map((c) =>
    c.path === "/v1/completions" ? `generate ${c.body.model}` : `${c.path.slice(4)} ${c.body.lora_name}`,
  );
}
after(async () => {
  await vllm.close();
  await rm(root, { recursive: true, force: true });
});

test("each step's adapter goes to vLLM: written, loaded as step-N, generated with, the previous unloaded", async () => {
  const adapterDir = join(root, "adapters");
  // What the adapter folder held when vLLM was told to load it.
  const atLoad: string[][] = [];
  vllm.fail = (call) => {
    if (call.path === "/v1/load_lora_adapter")
      atLoad.push(existsSync(call.body.lora_path) ? [] : ["missing"]);
    return null;
  };
  const loadedFiles = async (call: RecordedCall) => (await readdir(call.body.lora_path)).sort();
  process.env.REASONRL_TEST_FLEET_KEY = "fleet-secret";
  const { sft: _, eval: __, ...base } = tinyRunRecipe();
  const recipe = parseRecipe({
    ...base,
    runsDir: join(root, "runs"),
    model: { ...(base.model as object), path: join(root, "model"), lora: { rank: 2, alpha: 4 } },
    grpo: { ...(base.grpo as object), steps: 3 },
    rollout: {
      endpoints: [vllm.url],
      protocol: "vllm",
      servedModel: "base",
      adapterDir,
      apiKeyEnv: "REASONRL_TEST_FLEET_KEY",
      keepAdapters: 2,
    },
  });
  const summary = await runRecipe(recipe, { log: () => {}, warn: () => {} });
  assert.equal(summary.grpo_steps, 3);

  const calls = callLog();
  assert.deepEqual(calls, [
    "load_lora_adapter step-0",
    "generate step-0",
    "generate step-0",
    "load_lora_adapter step-1",
    "unload_lora_adapter step-0",
    "generate step-1",
    "generate step-1",
    "load_lora_adapter step-2",
    "unload_lora_adapter step-1",
    "generate step-2",
    "generate step-2",
    "load_lora_adapter step-3",
    "unload_lora_adapter step-2",
    "unload_lora_adapter step-3", // the run is over
  ]);
  assert.ok(vllm.calls.every((c) => c.authorization === "Bearer fleet-secret"));
  // the loads name each folder by its absolute path, complete when loaded
  const loads = vllm.calls.filter((c) => c.path === "/v1/load_lora_adapter");
  assert.deepEqual(
    loads.map((c) => c.body.lora_path),
    [0, 1, 2, 3].map((n) => join(adapterDir, `step-${n}`)),
  );
  assert.deepEqual(atLoad, [[], [], [], []]);
  // the rollouts: one request per prompt, as token ids, the group's samples and seed, log-probs asked
  const generate = vllm.calls.find((c) => c.path === "/v1/completions")?.body;
  assert.equal(generate.n, 4);
  assert.equal(generate.max_tokens, 12);
  assert.equal(generate.temperature, 1);
  assert.equal(generate.logprobs, 0);
  assert.ok(Array.isArray(generate.prompt) && generate.prompt.every(Number.isInteger));
  assert.equal(typeof generate.seed, "number");
  // only the last two folders are kept; each is a PEFT adapter (config + safetensors)
  assert.deepEqual((await readdir(adapterDir)).sort(), ["step-2", "step-3"]);
  assert.deepEqual(await loadedFiles(loads[3]), ["adapter_config.json", "adapter_model.safetensors"]);
  const config = JSON.parse(await readFile(join(adapterDir, "step-3", "adapter_config.json"), "utf8"));
  assert.equal(config.peft_type, "LORA");
  assert.equal(config.r, 2);
  assert.equal(config.base_model_name_or_path, join(root, "model"));
  // step-3 is the final model's adapters
  const final = new RunFolder(join(root, "runs", "tiny")).finalDir;
  assert.ok(
    (await readFile(join(final, "adapter_model.safetensors"))).equals(
      await readFile(join(adapterDir, "step-3", "adapter_model.safetensors")),
    ),
  );
  // each step's record holds the push's times and the fleet's numbers
  const steps = (await new RunFolder(join(root, "runs", "tiny")).readMetrics()).filter(
    (r) => r.stage === "grpo",
  ) as GrpoRecord[];
  for (const r of steps) {
    const [sync, write, load] = [r.sync_s, r.sync_write_s, r.sync_load_s] as number[];
    assert.ok(sync >= write && write > 0 && load > 0, JSON.stringify(r));
    assert.equal(r.fleet_requests, 2);
  }
});

test("one step off policy: the next step's rollouts ask for the adapter before the update, which is unloaded only after them", async () => {
  vllm.calls.length = 0;
  vllm.fail = null;
  const { sft: _, eval: __, ...base } = tinyRunRecipe();
  const recipe = parseRecipe({
    ...base,
    name: "off",
    runsDir: join(root, "runs"),
    model: { ...(base.model as object), path: join(root, "model"), lora: { rank: 2, alpha: 4 } },
    grpo: { ...(base.grpo as object), steps: 3 },
    rollout: { endpoints: [vllm.url], protocol: "vllm", servedModel: "base", offPolicy: 1 },
  });
  await runRecipe(recipe, { log: () => {}, warn: () => {} });
  const calls = callLog();
  assert.deepEqual(calls, [
    "load_lora_adapter step-0",
    "generate step-0", // step 1's rollout
    "generate step-0",
    "generate step-0", // step 2's, sampled while step 1 trains
    "generate step-0",
    "load_lora_adapter step-1",
    "unload_lora_adapter step-0",
    "generate step-1", // step 3's, while step 2 trains
    "generate step-1",
    "load_lora_adapter step-2",
    "unload_lora_adapter step-1",
    "load_lora_adapter step-3",
    "unload_lora_adapter step-2",
    "unload_lora_adapter step-3",
  ]);
  const steps = (await RunFolder.of(join(root, "runs"), "off").readMetrics()).filter(
    (r) => r.stage === "grpo",
  );
  assert.deepEqual(
    steps.map((r) => r.policy_lag),
    [0, 1, 1],
  );
  // the default adapterDir is the run folder's adapters/
  assert.deepEqual((await readdir(join(root, "runs", "off", "adapters"))).sort(), ["step-2", "step-3"]);
});

test("a run stopped after step 2 and resumed: the adapter of step 2 is unloaded at the stop and pushed again first", async () => {
  vllm.calls.length = 0;
  vllm.fail = null;
  const { sft: _, eval: __, ...base } = tinyRunRecipe();
  const recipe = parseRecipe({
    ...base,
    name: "resumed",
    runsDir: join(root, "runs"),
    model: { ...(base.model as object), path: join(root, "model"), lora: { rank: 2, alpha: 4 } },
    grpo: { ...(base.grpo as object), steps: 3 },
    rollout: { endpoints: [vllm.url], protocol: "vllm", servedModel: "base" },
  });
  let done = 0;
  const first = await runRecipe(recipe, {
    log: () => {},
    warn: () => {},
    onGrpoStep: (r) => {
      done = r.step;
    },
    stop: () => done >= 2,
  });
  assert.equal(first.stopped, true);
  const second = await runRecipe(recipe, { log: () => {}, warn: () => {} });
  assert.equal(second.grpo_steps, 3);
  const calls = callLog();
  assert.deepEqual(calls, [
    "load_lora_adapter step-0",
    "generate step-0",
    "generate step-0",
    "load_lora_adapter step-1",
    "unload_lora_adapter step-0",
    "generate step-1",
    "generate step-1",
    "load_lora_adapter step-2",
    "unload_lora_adapter step-1",
    "unload_lora_adapter step-2", // stopped
    "load_lora_adapter step-2", // resumed from the checkpoint of step 2
    "generate step-2",
    "generate step-2",
    "load_lora_adapter step-3",
    "unload_lora_adapter step-2",
    "unload_lora_adapter step-3",
  ]);
});

test("a vLLM fleet cannot take full weights: the recipe is refused when it is read", () => {
  const base = tinyRunRecipe();
  assert.throws(
    () =>
      parseRecipe({
        ...base,
        model: { ...(base.model as object), path: join(root, "model") },
        rollout: { endpoints: [vllm.url], protocol: "vllm" },
      }),
    /rollout\.protocol: vllm servers cannot reload full weights from disk/,
  );
});
