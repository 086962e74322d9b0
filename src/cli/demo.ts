/** `reasonrl demo`: the built-in demo that `npm start` runs (recipes/demo.yaml, from scratch). */
import type { Command } from "commander";
import { DemoStopped, describeDemo, runDemo } from "../demo/grpo-demo.ts";
import { describeStart } from "../rl/rerun.ts";
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
    .addOption(jsonOption("print only the JSON summary"))
    .action(async (opts: { set: string[]; resume?: boolean; json?: boolean }) => {
      const progress = progressHooks(Boolean(opts.json));
      const notice = () => progress.log("stopping after this step (Ctrl-C again to quit now)...");
      await stopOnCtrlC(notice, async (signal) => {
        const summary = await runDemo({
          sets: opts.set,
          resume: opts.resume,
          hooks: {
            ...progress,
            warn: (m) => progress.log(`warning: ${m}`),
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
        printResult({ ...summary }, opts, describeDemo(summary));
      });
    });
}
