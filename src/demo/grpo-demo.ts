/**
 * The built-in demo (`npm start`): RL improving reasoning, end to end on this
 * CPU with nothing downloaded. It runs recipes/demo.yaml:
 *
 *   1. a tiny Qwen2 model made from scratch with a character tokenizer (written as tokenizer.json);
 *   2. SFT on arithmetic traces, most of which answer at once without working: the model learns to
 *      work the steps inside <think>...</think> but does so only some of the time (a weak start);
 *   3. GRPO with the paper's rewards (format + 2 x accuracy by the math verifier);
 *   4. held-out accuracy before and after GRPO, with 95% intervals, a summary.json and a chart.
 */
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Accuracy } from "../eval/accuracy.ts";
import { writeFileAtomic } from "../model/safetensors-write.ts";
import { loadRecipe, type Recipe } from "../rl/recipe.ts";
import { type RunHooks, type RunSummary, runRecipe } from "../rl/run.ts";
import { writeMetricsChart } from "../track/chart.ts";
import { readMetrics } from "../train/metrics-log.ts";

/** The demo's recipe, shipped with the package. */
export const DEMO_RECIPE = fileURLToPath(new URL("../../recipes/demo.yaml", import.meta.url));

export interface DemoSummary {
  task: string;
  heldout: number;
  before: Accuracy;
  after: Accuracy;
  /** after - before, in accuracy points (percent). */
  gain_points: number;
  /** The two 95% intervals do not overlap. */
  significant: boolean;
  best: RunSummary["best"];
  sft_steps: number;
  grpo_steps: number;
  chart: string;
  wall_s: number;
}

/** Describes the task of the demo's recipe in words. */
function taskName(recipe: Recipe): string {
  const src = recipe.data.train;
  if (!("synthetic" in src)) return "math problems";
  const t = src.task;
  const operands = t.minOperands === t.maxOperands ? `${t.minOperands}` : `${t.minOperands}-${t.maxOperands}`;
  const digits = t.maxDigits === 1 ? "one-digit" : `up to ${t.maxDigits}-digit`;
  return `arithmetic: ${operands} ${digits} operands, ${t.ops.join(" ")}`;
}

/**
 * Runs the demo from scratch (the run folder is emptied first unless `resume`), writes
 * `<run>/summary.json` and `<run>/chart.png`, and returns the summary.
 */
export async function runDemo(
  options: { sets?: string[]; resume?: boolean; hooks?: RunHooks } = {},
): Promise<DemoSummary> {
  const started = performance.now();
  const recipe = await loadRecipe(DEMO_RECIPE, options.sets ?? []);
  const runDir = join(recipe.runsDir, recipe.name);
  if (!options.resume) await rm(runDir, { recursive: true, force: true });
  const run = await runRecipe(recipe, options.hooks);
  if (run.stopped) throw new Error(`demo stopped; resume with: reasonrl demo --resume`);
  if (!run.before || !run.after) throw new Error("demo: the recipe has no held-out evaluation");

  const records = await readMetrics(join(runDir, "metrics.jsonl"));
  const chart = join(runDir, "chart.png");
  await writeMetricsChart(
    chart,
    // The held-out accuracy before GRPO is drawn at step 0.
    [{ step: 0, heldout_accuracy: run.before.accuracy }, ...records.filter((r) => r.stage === "grpo")],
    {
      x: "step",
      title: `GRPO on ${taskName(recipe)}`,
      series: [
        { title: "reward (format + 2 x accuracy)", field: "reward" },
        {
          title: "accuracy: training samples and held-out",
          field: ["accuracy", "heldout_accuracy"],
          domain: [0, 1],
        },
        { title: "completion length (tokens)", field: "completion_length" },
      ],
    },
  );
  const summary: DemoSummary = {
    task: taskName(recipe),
    heldout: run.after.n,
    before: run.before,
    after: run.after,
    gain_points: 100 * (run.after.accuracy - run.before.accuracy),
    significant: run.after.ci95[0] > run.before.ci95[1],
    best: run.best,
    sft_steps: run.sft_steps,
    grpo_steps: run.grpo_steps,
    chart,
    wall_s: (performance.now() - started) / 1000,
  };
  await writeFileAtomic(join(runDir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

/** The before/after table, with intervals, as text. */
export function describeDemo(s: DemoSummary): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const row = (label: string, a: Accuracy) =>
    `${label.padEnd(22)} ${pct(a.accuracy).padStart(6)}   [${pct(a.ci95[0])}, ${pct(a.ci95[1])}]   ${a.correct}/${a.n}`;
  return [
    `task: ${s.task}; ${s.heldout} held-out problems, one sample each (T 0.6, top-p 0.95)`,
    `${"".padEnd(22)} accuracy   95% interval      correct`,
    row(`after SFT (${s.sft_steps} steps)`, s.before),
    row(`after GRPO (${s.grpo_steps} steps)`, s.after),
    `gain: ${s.gain_points >= 0 ? "+" : ""}${s.gain_points.toFixed(1)} points; intervals ${s.significant ? "do not overlap" : "overlap"}`,
    `chart: ${s.chart}; total ${s.wall_s.toFixed(0)} s`,
  ].join("\n");
}

/** Reads a finished demo's summary (for tests and the dashboard). */
export async function readDemoSummary(runDir: string): Promise<DemoSummary> {
  return JSON.parse(await readFile(join(runDir, "summary.json"), "utf8"));
}
