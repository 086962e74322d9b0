/** `reasonrl bench <name>`: speed benchmarks; the last line printed is the JSON result. */
import type { Command } from "commander";
import { benchCurate, describeCurateBench } from "../../bench/curate.ts";
import { benchEngine } from "../../bench/engine.ts";
import { benchGenerate, describeGenerateBench } from "../../bench/generate.ts";
import { benchGrpo, describeGrpoBench } from "../../bench/grpo.ts";
import { benchServe, describeServeBench } from "../../bench/serve.ts";
import { describeVerifyBench, runVerifyBench } from "../../bench/verify.ts";

export function register(program: Command): void {
  const bench = program
    .command("bench")
    .description("run a benchmark; its last line is one JSON object of figures");
  bench
    .command("curate")
    .description(
      "dedupe + decontamination of 10,000 problems vs the five benchmarks, and a naive all-pairs baseline",
    )
    .option("--rows <n>", "problems", (v) => Number.parseInt(v, 10), 10_000)
    .option(
      "--baseline-rows <n>",
      "problems the naive baseline compares (then extrapolated)",
      (v) => Number.parseInt(v, 10),
      1000,
    )
    .action(async (opts: { rows: number; baselineRows: number }) => {
      const result = await benchCurate({ ...opts, log: (line) => console.log(line) });
      console.log(describeCurateBench(result));
      console.log(JSON.stringify(result));
    });
  bench
    .command("engine")
    .description("train a ~10M-parameter Llama on the engine and compare its GFLOP/s with a 1024^3 sgemm")
    .option("--steps <n>", "timed training steps", (v) => Number.parseInt(v, 10), 5)
    .option("--threads <n>", "compute threads (default: all cores)", (v) => Number.parseInt(v, 10))
    .option("--batch <n>", "sequences per step", (v) => Number.parseInt(v, 10), 8)
    .option("--seq <n>", "tokens per sequence", (v) => Number.parseInt(v, 10), 256)
    .action(async (opts: { steps: number; threads?: number; batch: number; seq: number }) => {
      const result = await benchEngine({ ...opts, log: (line) => console.log(line) });
      console.log(
        `training ${result.train_gflops} GFLOP/s vs sgemm ${result.sgemm_gflops} GFLOP/s (${result.sgemm_backend}): ratio ${result.ratio}`,
      );
      console.log(JSON.stringify(result));
    });
  bench
    .command("verify")
    .description("verifier speed and correctness on the benchmarks' gold answers")
    .option("--workers <n>", "worker threads", (v) => Number.parseInt(v, 10), 2)
    .action(async (opts: { workers: number }) => {
      const result = await runVerifyBench({ workers: opts.workers });
      console.log(describeVerifyBench(result));
      console.log(JSON.stringify(result));
    });
  bench
    .command("generate")
    .description(
      "greedy decoding tokens/s of a ~25M Qwen2: our engine vs llama.cpp (batch 1 and 32), and training tokens/s",
    )
    .option("--threads <n>", "compute threads of both engines", (v) => Number.parseInt(v, 10), 2)
    .option("--tokens <n>", "new tokens per sequence", (v) => Number.parseInt(v, 10), 128)
    .option(
      "--repeats <n>",
      "timed calls per side and batch size (the fastest counts)",
      (v) => Number.parseInt(v, 10),
      2,
    )
    .action(async (opts: { threads: number; tokens: number; repeats: number }) => {
      const result = await benchGenerate({
        threads: opts.threads,
        newTokens: opts.tokens,
        repeats: opts.repeats,
        log: (line) => console.log(line),
      });
      console.log(describeGenerateBench(result));
      console.log(JSON.stringify(result));
    });
  bench
    .command("grpo")
    .description("GRPO steps of the demo configuration: step time split into generation / scoring / training")
    .option("--steps <n>", "timed steps (after one warm-up)", (v) => Number.parseInt(v, 10), 3)
    .option("--threads <n>", "compute threads (default: all cores)", (v) => Number.parseInt(v, 10))
    .action(async (opts: { steps: number; threads?: number }) => {
      const result = await benchGrpo({ ...opts, log: (line) => console.log(line) });
      console.log(describeGrpoBench(result));
      console.log(JSON.stringify(result));
    });
  bench
    .command("serve")
    .description(
      "64 concurrent chat requests to reasonrl serve (~25M Qwen2) vs the same requests one at a time",
    )
    .option("--threads <n>", "compute threads", (v) => Number.parseInt(v, 10), 2)
    .option("--requests <n>", "requests per phase", (v) => Number.parseInt(v, 10), 64)
    .option("--tokens <n>", "new tokens per request", (v) => Number.parseInt(v, 10), 64)
    .option("--max-batch <n>", "the server's max batch", (v) => Number.parseInt(v, 10), 64)
    .option(
      "--temperature <t>",
      "sampling temperature (0: greedy; else seeded per request)",
      Number.parseFloat,
      0,
    )
    .action(
      async (opts: {
        threads: number;
        requests: number;
        tokens: number;
        maxBatch: number;
        temperature: number;
      }) => {
        const result = await benchServe({ ...opts, log: (line) => console.log(line) });
        console.log(describeServeBench(result));
        console.log(JSON.stringify(result));
      },
    );
}
