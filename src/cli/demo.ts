/** `reasonrl demo`: the built-in demo that `npm start` runs (recipes/demo.yaml, from scratch). */
import { mkdir } from "node:fs/promises";
import type { Command } from "commander";
import { DEMO_RECIPE, DemoStopped, describeDemo, runDemo } from "../demo/grpo-demo.ts";
import { loadRecipe } from "../rl/recipe.ts";
import { describeStart } from "../rl/rerun.ts";
import { DEFAULT_PORT, startDashboard } from "../serve/dashboard/server.ts";
import { dashboardCommand, untilStopped } from "./dashboard.ts";
import { guardAlertLine } from "./guard-alerts.ts";
import { stopOnCtrlC } from "./interrupt.ts";
import { jsonOption, setOption } from "./options.ts";
import { printResult } from "./output.ts";
import { progressHooks } from "./progress.ts";

export function register(program: Command): void {
  program
    .command("demo")
    .description(
      "RL improving reasoning on this CPU, nothing downloaded: a tiny Qwen2 made from scratch, SFT to a weak start, " +
        "then GRPO on arithmetic; held-out accuracy before/after with 95% intervals, runs/demo/summary.json and chart.png",
    )
    .addOption(setOption("grpo.steps=20"))
    .option("--resume", "continue the last demo run instead of starting afresh")
    .option(
      "--dashboard",
      "watch it in the dashboard (a local web page) while it runs, and after until Ctrl-C",
    )
    .addOption(jsonOption("print only the JSON summary"))
    .action(async (opts: { set: string[]; resume?: boolean; dashboard?: boolean; json?: boolean }) => {
      const progress = progressHooks(Boolean(opts.json));
      // The dashboard of the demo's runs folder: served from the start with --dashboard, else named at the end.
      const { runsDir } = await loadRecipe(DEMO_RECIPE, opts.set);
      const dashboard = opts.dashboard ? await startDemoDashboard(runsDir) : null;
      if (dashboard) progress.log(`dashboard: ${dashboard.url}`);
      let finished = false;
      const notice = () => progress.log("stopping after this step (Ctrl-C again to quit now)...");
      await stopOnCtrlC(notice, async (signal) => {
        const summary = await runDemo({
          sets: opts.set,
          resume: opts.resume,
          hooks: {
            ...progress,
            warn: (m) => progress.log(`warning: ${m}`),
            onGuard: (a) => progress.log(guardAlertLine(a)),
            stop: () => signal.aborted,
            onStart: (s) => {
              if (s.kind === "resume") console.error(describeStart(s, "demo"));
            },
          },
        }).catch((err) => {
          if (!(err instanceof DemoStopped)) throw err;
          return null;
        });
        progress.done();
        // Stopped by Ctrl-C: say what was kept and how to go on (stopOnCtrlC makes the exit status 130).
        if (summary === null) {
          const sets = opts.set.map((s) => ` --set '${s.replaceAll("'", "'\\''")}'`).join("");
          const resume = `reasonrl demo --resume${sets}`;
          printResult(
            { stopped: true, resume },
            opts,
            `stopped: the demo's checkpoints are kept; to resume: ${resume}`,
          );
          return;
        }
        const watch = dashboard ? `dashboard: ${dashboard.url} (Ctrl-C stops it)` : dashboardCommand(runsDir);
        printResult({ ...summary }, opts, `${describeDemo(summary)}\nsee the run: ${watch}`);
        finished = true;
      }).finally(async () => {
        if (dashboard && finished) await untilStopped();
        await dashboard?.close();
      });
    });
}

/** The dashboard of the demo's runs (the folder made if new): on its usual port, or any free one when that is taken. */
async function startDemoDashboard(dir: string) {
  await mkdir(dir, { recursive: true });
  return startDashboard({ dir, port: DEFAULT_PORT }).catch(() => startDashboard({ dir, port: 0 }));
}
