/**
 * Guards in a run, end to end on the tiny recipe: a guard with `action: stop` that trips at
 * step 2 stops the run after that step (summary.json says stopped, the alert is in
 * metrics.jsonl and the run store's events, the best checkpoint is kept, no final model); run
 * again, the run resumes and goes to its end without reporting the guard a second time, since
 * it never cleared. The step records carry the step's non-English share. rolloutShares
 * adds the shares by the store's rule of each completion. `reasonrl train` prints the alert
 * and what the stopped run kept.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { parseRecipe } from "../../src/rl/recipe.ts";
import { runRecipe } from "../../src/rl/run.ts";
import { rolloutShares } from "../../src/rl/run-guards.ts";
import type { GuardAlert } from "../../src/track/guards.ts";
import { rolloutFlags } from "../../src/track/store.ts";
import { RunStoreReader } from "../../src/track/store-read.ts";
import { RunFolder } from "../../src/train/run-folder.ts";
import { tinyRunRecipe } from "./helpers.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-guards-"));
after(() => rm(root, { recursive: true, force: true }));

/**
 * The tiny recipe with a format reward whose share drops from 100% to 0% at step 2 in each process
 * (guard-format-fixture.ts): format_collapse, set to stop with a window of one step, trips at step 2.
 */
function droppingFormat(name: string): Record<string, unknown> {
  const tiny = tinyRunRecipe();
  return {
    ...tiny,
    name,
    runsDir: join(root, "runs"),
    model: { ...(tiny.model as object), path: join(root, `model-${name}`) },
    grpo: {
      ...(tiny.grpo as object),
      rewards: {
        rewards: [
          { name: "format", module: FORMAT_FIXTURE },
          { name: "accuracy", weight: 2 },
        ],
      },
    },
  };
}
const FORMAT_FIXTURE = fileURLToPath(new URL("./guard-format-fixture.ts", import.meta.url));
const ALERT = "step 2: 0% of completions keep the format, below 50%";

test("a guard with action stop ends the run after the step that tripped it, keeping the best checkpoint", async () => {
  const recipe = parseRecipe({
    ...droppingFormat("stop"),
    guards: { formatCollapse: { action: "stop", window: 1, warmup: 1 } },
  });
  const alerts: GuardAlert[] = [];
  const hooks = { log: () => {}, warn: () => {}, onGuard: (a: GuardAlert) => alerts.push(a) };
  const summary = await runRecipe(recipe, hooks);

  assert.equal(summary.stopped, true);
  assert.equal(summary.grpo_steps, 2);
  assert.deepEqual(
    alerts.map((a) => [a.guard, a.step, a.action]),
    [["format_collapse", 2, "stop"]],
  );
  assert.equal(alerts[0].message, ALERT);

  const folder = RunFolder.of(recipe.runsDir, recipe.name);
  const lines = await folder.readMetrics();
  const grpo = lines.filter((l) => l.stage === "grpo");
  assert.deepEqual(
    grpo.map((l) => l.step),
    [1, 2],
  );
  for (const l of grpo) assert.equal(typeof l.non_english_fraction, "number");
  assert.deepEqual(
    lines.filter((l) => l.stage === "guard"),
    [
      {
        stage: "guard",
        step: 2,
        guard: "format_collapse",
        action: "stop",
        message: alerts[0].message,
        value: 0,
        threshold: 0.5,
      },
    ],
  );
  const reader = RunStoreReader.open(folder.storePath);
  try {
    assert.deepEqual(
      reader.events().map((e) => [e.step, e.kind, e.name, e.level, e.message]),
      [[2, "guard", "format_collapse", "stop", alerts[0].message]],
    );
  } finally {
    reader.close();
  }
  assert.deepEqual(await folder.readBest(), { step: 0, accuracy: summary.before?.accuracy });
  assert.ok(existsSync(join(folder.checkpointsOf("grpo"), "step-2")), "the stopping step's checkpoint");
  assert.equal(existsSync(folder.finalDir), false, "no final model: the run did not end");

  // Run again: it resumes at step 2; the guard still holds, so it is not reported again and the run ends.
  alerts.length = 0;
  const resumed = await runRecipe(recipe, hooks);
  assert.equal(resumed.stopped, false);
  assert.equal(resumed.grpo_steps, 8);
  assert.deepEqual(alerts, []);
  const again = await folder.readMetrics();
  assert.deepEqual(
    again.filter((l) => l.stage === "guard").map((l) => l.step),
    [2],
  );
  assert.ok(existsSync(folder.finalDir));
});

test("rolloutShares gives the mixed-script share, and the format share when no format term gives it", () => {
  const row = (completion: string, rewards: Record<string, number | null> = {}) => ({
    rewards,
    flags: rolloutFlags({ completion, rewards }),
  });
  const texts = [
    "Let me think.\n</think>\nThe answer is 4.",
    "Let me think. 所以答案是 4\n</think>\n",
    "no format here",
    "Так, ответ 4",
  ];
  const shares = rolloutShares(texts.map((t) => row(t)));
  assert.equal(shares.non_english_fraction, 0.5, "Latin with Han, and Cyrillic");
  assert.equal(shares.format_ok_fraction, 0.5);

  const m = rolloutShares(texts.map((t, i) => row(t, { format: [1, 0, 0, 0][i] })));
  assert.equal(m.format_ok_fraction, undefined, "reward_format is that share already");
  assert.equal(m.non_english_fraction, 0.5);
});

test("train prints a guard's alert on one line and, when it stops the run, what was kept", async () => {
  const path = join(root, "cli.yaml");
  await writeFile(path, stringify(droppingFormat("cli")));
  const sets = ["action=stop", "window=1", "warmup=1"].flatMap((s) => [
    "--set",
    `guards.formatCollapse.${s}`,
  ]);
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    ["bin/reasonrl.js", "train", path, ...sets],
    {
      env: { ...process.env, NO_COLOR: "1" },
    },
  );
  const alert = ALERT;
  assert.ok(
    stderr
      .split("\n")
      .includes(`guard format_collapse (action stop: the run stops after this step): ${alert}`),
    stderr,
  );
  const lines = stdout.trim().split("\n");
  assert.equal(lines[0], `stopped by guard format_collapse after grpo step 2: ${alert}`);
  assert.match(
    lines[1],
    /^the best model \(held-out \d+\.\d% after step 0\) is in .*checkpoints\/best; the checkpoint of step 2 is in .*step-2$/,
  );
  assert.match(
    lines[2],
    /^to go on past it \(the guard reports again only once it has cleared\): reasonrl train .*cli\.yaml --set guards\.formatCollapse\.action=stop/,
  );
});
