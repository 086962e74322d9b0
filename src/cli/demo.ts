/** `reasonrl demo`: the built-in demo that `npm start` runs. */
import type { Command } from "commander";
import { runCountingDemo } from "../demo/counting.ts";
import { printResult } from "./output.ts";

export function register(program: Command): void {
  program
    .command("demo")
    .description("train a small Llama from scratch on this CPU to continue counting sequences")
    .option("--steps <n>", "training steps", (v) => Number.parseInt(v, 10), 80)
    .option("--seed <n>", "random seed", (v) => Number.parseInt(v, 10), 0)
    .option("--json", "print only the JSON result")
    .action(async (opts: { steps: number; seed: number; json?: boolean }) => {
      const log = opts.json ? () => {} : (line: string) => console.log(line);
      const result = await runCountingDemo({ steps: opts.steps, seed: opts.seed, log });
      printResult({ ...result }, opts, `done in ${result.seconds.toFixed(1)} s`);
    });
}
