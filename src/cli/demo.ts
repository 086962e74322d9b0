/** `reasonrl demo`: the built-in demo that `npm start` runs (recipes/demo.yaml, from scratch). */
import type { Command } from "commander";
import { DemoStopped, describeDemo, runDemo } from "../demo/grpo-demo.ts";
import { stopOnCtrlC } from "./interrupt.ts";
import { jsonOption, setOption } from "./options.ts";
import { fail, printResult } from "./output.ts";
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
          hooks: { ...progress, warn: (m) => progress.log(`warning: ${m}`), stop: () => signal.aborted },
        }).catch((err) => {
          if (err instanceof DemoStopped) fail(`${err.message}: reasonrl demo --resume`);
          throw err;
        });
        progress.done();
        printResult({ ...summary }, opts, describeDemo(summary));
      });
    });
}
