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
import { rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Accuracy } from "../eval/accuracy.ts";
import { loadRecipe } from "../rl/recipe.ts";
import { type RunHooks, runRecipe } from "../rl/run.ts";
import { writeMetricsChart } from "../track/chart.ts";
import { RunFolder, type RunSummary } from "../train/run-folder.ts";

/** The demo's recipe, shipped with the package. */
export const DEMO_RECIPE = fileURLToPath(new URL("../../recipes/demo.yaml", import.meta.url));

/** A finished demo's summary: a run's, with its held-out accuracies before and after GRPO. */
export type DemoSummary = RunSummary & {
  heldout: number;
  before: Accuracy;
  after: Accuracy;
  gain_points: number;
  significant: boolean;
  chart: string;
};

/** The demo stopped at a safe point before its end (its checkpoints are kept: it can be resumed). */
export class DemoStopped extends Error {
  constructor() {
    super("demo stopped before the end; its checkpoints are kept, so it can be resumed");
  }
}

/**
 * Runs the demo from scratch (the run folder is emptied first unless `resume`), draws
 * `<run>/chart.png`, adds it to `<run>/summary.json`, and returns the summary.
 */
export async function runDemo(
  options: { sets?: string[]; resume?: boolean; hooks?: RunHooks } = {},
): Promise<DemoSummary> {
  const started = performance.now();
  const recipe = await loadRecipe(DEMO_RECIPE, options.sets ?? []);
  const folder = RunFolder.of(recipe.runsDir, recipe.name);
  if (!options.resume) await rm(folder.dir, { recursive: true, force: true });
  const run = await runRecipe(recipe, options.hooks, { kind: "demo" });
  if (run.stopped) throw new DemoStopped();
  const { before, after, heldout, gain_points, significant } = run;
  if (!before || !after || heldout === null || gain_points === null || significant === null)
    throw new Error("demo: the recipe has no held-out evaluation");

  const chart = folder.chartPath;
  const records = await folder.readMetrics();
  await writeMetricsChart(
    chart,
    // The held-out accuracy before GRPO is drawn at step 0.
    [{ step: 0, heldout_accuracy: before.accuracy }, ...records.filter((r) => r.stage === "grpo")],
    {
      x: "step",
      title: `GRPO on ${run.task}`,
      series: [
        { title: "reward (format + 2 x accuracy)", field: "reward" },
        {
          title: "accuracy: training samples and held-out",
          field: ["train_accuracy", "heldout_accuracy"],
          domain: [0, 1],
        },
        { title: "completion length (tokens)", field: "completion_length" },
      ],
    },
  );
  const summary: DemoSummary = {
    ...run,
    heldout,
    before,
    after,
    gain_points,
    significant,
    chart,
    wall_s: (performance.now() - started) / 1000,
  };
  await folder.writeSummary(summary);
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
