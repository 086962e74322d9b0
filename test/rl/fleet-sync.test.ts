/**
 * The recipe's `rollout:` section (src/rl/rollout-target.ts) and the weight sync (policy-sync.ts): what is refused
 * when the recipe is read (naming the field), and what a push does each step (the step-N folder in
 * PEFT's layout, written atomically; load the new adapter, generate with it, unload the previous
 * one; keep the last K folders), against a fleet that records the calls.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Engine } from "../../src/engine/index.ts";
import { loadModel } from "../../src/model/load.ts";
import { addLora, loadLora } from "../../src/model/lora.ts";
import { type PolicyFleet, PolicySync } from "../../src/rl/policy-sync.ts";
import { parseRecipe } from "../../src/rl/recipe.ts";
import { openRolloutTarget, rolloutApiKey } from "../../src/rl/rollout-target.ts";
import { RunFolder } from "../../src/train/run-folder.ts";
import { makeTinyCharModel } from "../model/tiny-char-model.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-fleet-sync-"));
after(() => rm(root, { recursive: true, force: true }));

/** A recipe with `rollout` and, when `lora`, LoRA adapters. */
const recipeWith = (rollout: object, lora = true) => ({
  name: "r",
  model: { path: "m", ...(lora ? { lora: { rank: 2 } } : {}) },
  data: { train: { path: "t.jsonl" } },
  grpo: {
    steps: 1,
    promptsPerStep: 1,
    groupSize: 2,
    maxTokens: 4,
    rewards: "open-rs-accuracy",
    optimizer: {},
  },
  rollout,
});

test("rollout: endpoints with a protocol; refused without one, or full weights on vllm/reasonrl", () => {
  const ok = parseRecipe(recipeWith({ endpoints: ["http://127.0.0.1:8000"], protocol: "vllm" }));
  assert.deepEqual(ok.rollout, {
    endpoints: ["http://127.0.0.1:8000"],
    protocol: "vllm",
    timeout: 600,
    retries: 3,
    probeInterval: 3,
    keepAdapters: 2,
    offPolicy: 0,
  });
  assert.equal(parseRecipe(recipeWith({ offPolicy: 1 })).rollout?.offPolicy, 1); // local, one step off
  assert.throws(
    () => parseRecipe(recipeWith({ endpoints: ["http://a:1"] }), "x.yaml"),
    /x\.yaml: invalid recipe\n {2}rollout\.protocol: needed with rollout\.endpoints/,
  );
  assert.throws(
    () => parseRecipe(recipeWith({ endpoints: ["http://a:1"], protocol: "vllm" }, false)),
    /rollout\.protocol: vllm servers cannot reload full weights.*model\.lora.*sglang/,
  );
  assert.throws(
    () => parseRecipe(recipeWith({ endpoints: ["http://a:1"], protocol: "reasonrl" }, false)),
    /rollout\.protocol: reasonrl servers cannot reload full weights/,
  );
  assert.equal(
    parseRecipe(recipeWith({ endpoints: ["http://a:1"], protocol: "sglang" }, false)).rollout?.protocol,
    "sglang",
  );
  assert.throws(
    () => parseRecipe(recipeWith({ endpoints: ["not a url"], protocol: "vllm" })),
    /rollout\.endpoints\.0/,
  );
  assert.throws(
    () => parseRecipe(recipeWith({ adapterDir: "a" })),
    /rollout\.adapterDir: only used with rollout\.endpoints/,
  );
  assert.throws(
    () =>
      parseRecipe(recipeWith({ endpoints: ["http://a:1"], protocol: "vllm", apiKey: "k", apiKeyEnv: "K" })),
    /give apiKey or apiKeyEnv, not both/,
  );
  assert.throws(
    () => parseRecipe(recipeWith({ endpoints: ["http://a:1"], protocol: "vllm", keepAdapters: 0 })),
    /rollout\.keepAdapters/,
  );
});

test("the API key comes from the recipe or the environment variable it names", () => {
  const r = parseRecipe(
    recipeWith({ endpoints: ["http://a:1"], protocol: "vllm", apiKeyEnv: "FLEET_KEY" }),
  ).rollout;
  assert.ok(r);
  assert.equal(rolloutApiKey(r, { FLEET_KEY: "s3cret" }), "s3cret");
  assert.throws(
    () => rolloutApiKey(r, {}),
    /rollout\.apiKeyEnv: the environment variable FLEET_KEY is not set/,
  );
});

/** A fleet that records the sync calls (generation is not used here). */
function recordingFleet(): PolicyFleet & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    generate: async () => {
      throw new Error("not used");
    },
    loadAdapter: async (name, path) => {
      // The folder is complete when the fleet is told to load it.
      const files = (await readdir(path)).sort();
      calls.push(`load ${name} ${files.join(",")}`);
    },
    unloadAdapter: async (name) => {
      calls.push(`unload ${name}`);
    },
    reloadWeights: async (path) => {
      calls.push(`reload ${(await readdir(path)).includes("model.safetensors") ? "model" : "?"}`);
    },
    setModel: (name) => {
      calls.push(`model ${name}`);
    },
  };
}

test("each push writes adapterDir/step-N in PEFT layout, loads it, switches to it, unloads the previous, keeps K", async () => {
  const modelDir = await makeTinyCharModel(join(root, "m"), { maxPositions: 64, seed: 1 });
  await using engine = new Engine({ threads: 1 });
  const base = await loadModel(engine, modelDir, { trainable: false });
  const lora = { rank: 2, alpha: 4, targets: ["q" as const, "v" as const] };
  const weights = addLora(engine, base.weights, lora, 5);
  const dir = join(root, "run", "adapters");
  const fleet = recordingFleet();
  const sync = new PolicySync(
    fleet,
    { weights, lora, modelPath: modelDir, hf: base.hf },
    { dir, folder: new RunFolder(join(root, "run")), keepFolders: 2 },
  );
  for (const step of [3, 4, 5]) {
    // the adapters change between pushes, as an update would change them
    const b = weights.layers[1].lora?.v?.b;
    assert.ok(b);
    b.write(Float32Array.from({ length: b.size }, () => step));
    const times = await sync.push(step);
    assert.ok(times.sync_s >= times.sync_write_s && times.sync_write_s >= 0 && times.sync_load_s >= 0);
  }
  const files = "adapter_config.json,adapter_model.safetensors";
  assert.deepEqual(fleet.calls, [
    `load step-3 ${files}`,
    "model step-3",
    `load step-4 ${files}`,
    "model step-4",
    "unload step-3",
    `load step-5 ${files}`,
    "model step-5",
    "unload step-4",
  ]);
  assert.equal(sync.current, "step-5");
  assert.deepEqual((await readdir(dir)).sort(), ["step-4", "step-5"]);
  // the folder is a PEFT adapter of the policy as it was at that push
  const config = JSON.parse(await readFile(join(dir, "step-5", "adapter_config.json"), "utf8"));
  assert.equal(config.peft_type, "LORA");
  assert.equal(config.r, 2);
  assert.deepEqual(config.target_modules, ["q_proj", "v_proj"]);
  const loaded = await loadLora(engine, join(dir, "step-4"), base.weights);
  assert.ok(loaded.weights.layers[1].lora?.v?.b.readF32().every((x) => x === 4));
});

test("full fine-tuning: each push writes a model folder and the fleet reloads it", async () => {
  const modelDir = await makeTinyCharModel(join(root, "m3"), { maxPositions: 64, seed: 1 });
  await using engine = new Engine({ threads: 1 });
  const base = await loadModel(engine, modelDir, { trainable: true });
  const fleet = recordingFleet();
  const dir = join(root, "run3", "a");
  const sync = new PolicySync(
    fleet,
    { weights: base.weights, lora: null, modelPath: modelDir, hf: base.hf },
    { dir, folder: new RunFolder(join(root, "run3")), keepFolders: 1 },
  );
  await sync.push(1);
  await sync.push(2);
  assert.deepEqual(fleet.calls, ["reload model", "reload model"]);
  assert.deepEqual(await readdir(dir), ["step-2"]);
  assert.ok((await readdir(join(dir, "step-2"))).includes("tokenizer.json"));
});

test("without rollout.servedModel the base's name is asked of the first endpoint; one that does not answer is named", async () => {
  const section = parseRecipe(
    recipeWith({ endpoints: ["http://127.0.0.1:9/v1"], protocol: "vllm", timeout: 5 }),
  ).rollout;
  assert.ok(section);
  const unused = {} as never; // the target fails before it uses the policy or the generator
  await assert.rejects(
    openRolloutTarget(section, { local: unused, policy: unused, folder: unused, tokenizer: unused }),
    /rollout\.servedModel: not given, and GET http:\/\/127\.0\.0\.1:9\/v1\/models did not name a model \(.*\): set it in the recipe/,
  );
  // no endpoints: the local generator, and hooks that push nothing
  const local = { generate: async () => [] };
  const target = await openRolloutTarget(undefined, {
    local,
    policy: unused,
    folder: unused,
    tokenizer: unused,
  });
  assert.equal(target.generator, local);
  assert.equal(target.remote, false);
  assert.deepEqual(await target.hooks.afterUpdate(1), {});
});
