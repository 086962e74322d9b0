/**
 * A recipe end to end on a tiny model made from scratch: the run folder's
 * contents, and a run killed (SIGKILL) in the middle then resumed ends exactly
 * as an uninterrupted one; Ctrl-C saves a checkpoint, says how to resume and
 * exits with 130. Run again, a finished run is not redone, a changed recipe is
 * refused unless the change is allowed (then recorded in history.jsonl), and
 * a missing path is refused before anything is loaded, naming its field.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parse as parseYaml, stringify } from "yaml";
import { loadRecipe, parseRecipe } from "../../src/rl/recipe.ts";
import type { RunStart } from "../../src/rl/rerun.ts";
import { runRecipe } from "../../src/rl/run.ts";
import { RunFolder } from "../../src/train/run-folder.ts";
import { RUN_SUMMARY_KEYS, tinyRunRecipe } from "./helpers.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-run-"));
after(() => rm(root, { recursive: true, force: true }));

const recipePath = join(root, "tiny.yaml");
const recipe = tinyRunRecipe();
await writeFile(
  recipePath,
  stringify({
    ...recipe,
    runsDir: join(root, "runs"),
    model: { ...(recipe.model as object), path: join(root, "model") },
  }),
);

const runDir = (runs: string) => join(root, runs, "tiny");
const cli = (runs: string, ...args: string[]) =>
  spawn(
    process.execPath,
    ["bin/reasonrl.js", "train", recipePath, "--set", `runsDir=${join(root, runs)}`, ...args],
    { stdio: ["ignore", "pipe", "pipe"] },
  );

/** Runs the CLI to its end: exit status, stdout and stderr. */
async function cliRun(runs: string, ...args: string[]): Promise<{ code: unknown; out: string; err: string }> {
  const child = cli(runs, ...args);
  let [out, err] = ["", ""];
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  const code = await new Promise((r) => child.on("exit", r));
  return { code, out, err };
}

async function waitFor(path: string, timeoutMs = 120_000): Promise<void> {
  const t0 = Date.now();
  while (!existsSync(path)) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${path}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const grpoLines = async (runs: string) =>
  (await new RunFolder(runDir(runs)).readMetrics()).filter((r) => r.stage === "grpo");

test("a run writes config, metrics, checkpoints, best and final models, summary", async () => {
  const recipe = await loadRecipe(recipePath);
  const summary = await runRecipe(recipe, { log: () => {}, warn: () => {} });
  const dir = runDir("runs");
  assert.deepEqual((await readdir(dir)).sort(), [
    "checkpoints",
    "config.yaml",
    "final",
    "metrics.jsonl",
    "run.sqlite",
    "summary.json",
  ]);
  assert.deepEqual((await readdir(join(dir, "checkpoints"))).sort(), ["best", "grpo", "sft"]);
  assert.deepEqual(await readdir(join(dir, "checkpoints", "grpo")), ["step-7", "step-8"]);
  assert.ok(existsSync(join(dir, "final", "model.safetensors")));
  assert.equal(summary.sft_steps, 3);
  assert.equal(summary.grpo_steps, 8);
  assert.equal(summary.heldout, 16);
  assert.ok(summary.before && summary.after && summary.best);
  const metrics = await new RunFolder(dir).readMetrics();
  assert.deepEqual(
    metrics.map((m) => `${m.stage}${m.step}`),
    [
      "sft1",
      "sft2",
      "sft3",
      "eval0",
      "grpo1",
      "grpo2",
      "grpo3",
      "eval4",
      "grpo4",
      "grpo5",
      "grpo6",
      "grpo7",
      "eval8",
      "grpo8",
    ],
  );
  for (const key of [
    "reward",
    "train_accuracy",
    "reward_format",
    "kl",
    "grad_norm",
    "lr",
    "entropy",
    "generate_s",
  ])
    assert.ok(typeof metrics[4][key] === "number", `metric ${key}: ${metrics[4][key]}`);
  assert.equal(typeof metrics[8].heldout_accuracy, "number");
  const written = JSON.parse(await readFile(join(dir, "summary.json"), "utf8"));
  assert.deepEqual(written, JSON.parse(JSON.stringify(summary)));
  assert.deepEqual(Object.keys(written).sort(), RUN_SUMMARY_KEYS);
  assert.equal(written.gain_points, 100 * (summary.after.accuracy - summary.before.accuracy));
});

test("killed mid-run (SIGKILL) and resumed: same weights and metrics as uninterrupted", async () => {
  const child = cli("killed");
  const exited = new Promise((r) => child.on("exit", r));
  await waitFor(join(runDir("killed"), "checkpoints", "grpo", "step-2", "state.json"));
  child.kill("SIGKILL");
  await exited;
  assert.ok(!existsSync(join(runDir("killed"), "summary.json")), "the run finished before the kill");

  const resumed = await cliRun("killed");
  assert.equal(resumed.code, 0, resumed.err);
  assert.match(resumed.err, /resuming from grpo step [2-7] of 8\n/);
  const a = await readFile(join(runDir("runs"), "final", "model.safetensors"));
  const b = await readFile(join(runDir("killed"), "final", "model.safetensors"));
  assert.ok(a.equals(b), "final weights differ from the uninterrupted run");
  const strip = (rs: Record<string, unknown>[]) => rs.map(({ generate_s, reward_s, train_s, ...r }) => r);
  assert.deepEqual(strip(await grpoLines("killed")), strip(await grpoLines("runs")));
});

test("Ctrl-C saves a checkpoint, says how to resume, and exits with 130", async () => {
  const child = cli("interrupted");
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  const exited = new Promise((r) => child.on("exit", r));
  await waitFor(join(runDir("interrupted"), "checkpoints", "grpo", "step-1", "state.json"));
  child.kill("SIGINT");
  assert.equal(await exited, 130);
  const steps = (await grpoLines("interrupted")).map((r) => r.step);
  const saved = join(runDir("interrupted"), "checkpoints", "grpo", `step-${steps.at(-1)}`);
  assert.ok(
    out.includes(
      `stopped: checkpoint of grpo step ${steps.at(-1)} saved in ${saved}; to resume, run the same command: reasonrl train ${recipePath} --set runsDir=`,
    ),
    out,
  );
  assert.ok(existsSync(join(saved, "state.json")), `no checkpoint ${saved}`);
  assert.ok(steps.length < 8);
});

test("SFT from JSONL into LoRA adapters over a bf16 base; a bad row names its file and line", async () => {
  const data = join(root, "sft.jsonl");
  const rows = [
    [1, 2],
    [3, 4],
    [5, 1],
  ].map(([a, b]) => ({
    problem: `Compute ${a}+${b}.`,
    completion: `${a}+${b}=${a + b}\n</think>\n\\boxed{${a + b}}`,
  }));
  await writeFile(data, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
  const base = {
    name: "lora",
    runsDir: join(root, "runs"),
    model: {
      path: join(root, "model-lora"),
      init: { tokenizer: "arithmetic", config: { hidden: 32, layers: 1, heads: 2, kvHeads: 1, ffn: 64 } },
      lora: { rank: 2, alpha: 4 },
      dtype: "bf16", // the frozen base in bf16 under f32 adapters
      threads: 2,
    },
    data: { train: { path: data } },
    sft: { data: { path: data }, steps: 3, batchSize: 2, optimizer: { lr: 1e-2 } },
  };
  const summary = await runRecipe(parseRecipe(base), { log: () => {}, warn: () => {} });
  assert.equal(summary.sft_steps, 3);
  assert.equal(summary.grpo_steps, 0);
  const final = join(root, "runs", "lora", "final");
  assert.deepEqual((await readdir(final)).sort(), ["adapter_config.json", "adapter_model.safetensors"]);

  await writeFile(data, `${JSON.stringify(rows[0])}\n${JSON.stringify({ problem: "x" })}\n`);
  await assert.rejects(
    runRecipe(parseRecipe({ ...base, name: "bad" }), { log: () => {}, warn: () => {} }),
    /sft\.jsonl:2: field "completion" is missing/,
  );
});

test("model.dtype f16 is refused for a full fine-tune, before any work, naming the field", async () => {
  const recipe = parseRecipe({
    name: "f16",
    runsDir: join(root, "runs"),
    model: { path: join(root, "model-f16"), dtype: "f16" },
    data: { train: { path: "t.jsonl" } },
    sft: { data: { path: "t.jsonl" }, steps: 1, optimizer: { lr: 1e-3 } },
  });
  await assert.rejects(
    runRecipe(recipe, { log: () => {}, warn: () => {} }),
    /model\.dtype f16: a full fine-tune/,
  );
  assert.ok(!existsSync(join(root, "model-f16")), "no model made");
  assert.ok(!existsSync(join(root, "runs", "f16")), "no run folder made");
});

test("a GRPO run that cannot fit in the device's memory is refused before any weight is loaded", async () => {
  const recipe = await loadRecipe(recipePath, [
    `runsDir=${join(root, "too-big")}`,
    "grpo.promptsPerStep=512",
    "grpo.groupSize=64",
    "grpo.maxTokens=1000000",
  ]);
  await assert.rejects(
    runRecipe(recipe, { log: () => {}, warn: () => {} }),
    /plan: recipe tiny needs .* at its peak, .* is available .*Change: /,
  );
  assert.ok(!existsSync(join(root, "too-big", "tiny", "checkpoints")), "no stage started");
});

test("model.device reaches the engine: a device the build or machine lacks is refused by name", async () => {
  const recipe = await loadRecipe(recipePath, [
    `runsDir=${join(root, "no-device")}`,
    "model.device=vulkan:7",
  ]);
  await assert.rejects(
    runRecipe(recipe, { log: () => {}, warn: () => {} }),
    /device "vulkan:7" is not available/,
  );
});

/** A copy of the finished run of the first test in `runs` (the same run, moved: runsDir is not compared). */
async function copyOfFinishedRun(runs: string): Promise<string> {
  await cp(runDir("runs"), runDir(runs), { recursive: true });
  return runDir(runs);
}

const quiet = { log: () => {}, warn: () => {} };

test("run again: a finished run is not redone, a changed recipe is refused naming the fields", async () => {
  const dir = await copyOfFinishedRun("rerun");
  const config = await readFile(join(dir, "config.yaml"), "utf8");
  const finalMtime = (await stat(join(dir, "final", "model.safetensors"))).mtimeMs;
  const runs = `runsDir=${join(root, "rerun")}`;

  let start: RunStart | undefined;
  const summary = await runRecipe(await loadRecipe(recipePath, [runs]), {
    ...quiet,
    onStart: (s) => (start = s),
  });
  assert.equal(start?.kind, "finished");
  assert.deepEqual(summary, JSON.parse(await readFile(join(dir, "summary.json"), "utf8")));
  assert.equal((await stat(join(dir, "final", "model.safetensors"))).mtimeMs, finalMtime, "final/ rewritten");

  await assert.rejects(
    runRecipe(await loadRecipe(recipePath, [runs, "grpo.steps=10", "grpo.temperature=0.5"]), quiet),
    (err: Error) => {
      assert.match(
        err.message,
        /was run with another recipe .*config\.yaml.*: grpo\.temperature: 1 -> 0\.5, grpo\.steps: 8 -> 10\. Run it as it was/,
      );
      assert.match(err.message, /add --allow-change grpo\.steps /);
      assert.match(
        err.message,
        /grpo\.temperature cannot change in a run: start a new one \(--set name=tiny-2\)/,
      );
      return true;
    },
  );
  await assert.rejects(
    runRecipe(await loadRecipe(recipePath, [runs, "seed=4"]), quiet, { allowChange: ["seed"] }),
    /--allow-change seed: only these fields may change when a run resumes: grpo\.steps, /,
  );
  await assert.rejects(
    runRecipe(await loadRecipe(recipePath, [runs, "guards.klSpike.action=stop"]), quiet),
    /add --allow-change guards \(recorded/,
  );
  const guarded = await loadRecipe(recipePath, [runs, "guards.klSpike.action=stop"]);
  let allowed: RunStart | undefined;
  await runRecipe(guarded, { ...quiet, onStart: (s) => (allowed = s) }, { allowChange: ["guards"] });
  assert.equal(allowed?.kind, "finished", "a change under an allowed field");
  await assert.rejects(
    runRecipe(await loadRecipe(recipePath, [runs, "grpo.steps=5"]), quiet, { allowChange: ["grpo.steps"] }),
    /--allow-change grpo\.steps: the run is already at grpo step 8 \(asked: 5\)/,
  );
  assert.equal(await readFile(join(dir, "config.yaml"), "utf8"), config, "config.yaml changed");
  assert.ok(!existsSync(join(dir, "history.jsonl")), "a refused change was recorded");
});

test("run again with an allowed change: it goes on from its last step, recorded in history.jsonl", async () => {
  const dir = await copyOfFinishedRun("more-steps");
  const runs = `runsDir=${join(root, "more-steps")}`;
  const config = await readFile(join(dir, "config.yaml"), "utf8");
  const more = await loadRecipe(recipePath, [runs, "grpo.steps=10"]);
  let start: RunStart | undefined;
  const summary = await runRecipe(
    more,
    { ...quiet, onStart: (s) => (start = s) },
    { allowChange: ["grpo.steps"] },
  );
  assert.deepEqual(start, {
    kind: "resume",
    stage: "grpo",
    step: 8,
    steps: 10,
    changes: [{ path: "grpo.steps", from: 8, to: 10 }],
  });
  assert.equal(summary.grpo_steps, 10);
  assert.deepEqual(
    (await grpoLines("more-steps")).map((r) => r.step),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  // config.yaml is the recipe as started; the change and the step it took effect at are in history.jsonl.
  assert.equal(await readFile(join(dir, "config.yaml"), "utf8"), config);
  assert.equal(parseYaml(config).grpo.steps, 8);
  const history = (await readFile(join(dir, "history.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(history.length, 1);
  assert.equal(history[0].stage, "grpo");
  assert.equal(history[0].step, 8);
  assert.deepEqual(history[0].changes, [{ path: "grpo.steps", from: 8, to: 10 }]);

  // The run now runs 10 steps: the same command (no flag needed) says it is finished, 8 steps is a change.
  const again = await cliRun("more-steps", "--set", "grpo.steps=10");
  assert.equal(again.code, 0, again.err);
  assert.match(
    again.out,
    /^run tiny already finished \(grpo step 10 of 10\); its results:\ndone in \d+ s: 3 sft and 10 grpo steps; held-out accuracy [\d.]+% -> [\d.]+%; summary in /,
  );
  const fewer = await cliRun("more-steps");
  assert.equal(fewer.code, 1);
  assert.match(
    fewer.err,
    /^reasonrl: .* was run with another recipe .*: grpo\.steps: 10 -> 8\. Run it as it was/,
  );
  assert.equal(fewer.err.trim().split("\n").length, 1, fewer.err);
});

test("a missing path is refused before anything is loaded or written, naming its field", async () => {
  const raw = parseYaml(await readFile(recipePath, "utf8"));
  const recipe = parseRecipe({
    ...raw,
    runsDir: join(root, "missing"),
    model: { path: join(root, "missing-model") },
    eval: { ...raw.eval, data: { path: join(root, "heldout.jsonl") } },
  });
  await assert.rejects(
    runRecipe(recipe, quiet),
    new RegExp(
      `^Error: model\\.path: folder not found: ${join(root, "missing-model")}; eval\\.data\\.path: file not found: ${join(root, "heldout.jsonl")}$`,
    ),
  );
  assert.ok(!existsSync(join(root, "missing")), "a run folder was made");
});
