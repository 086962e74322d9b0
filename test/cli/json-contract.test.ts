/**
 * The --json contract of every subcommand (src/cli/output.ts): each accepts
 * --json, and the cheap ones, run through the real command on tiny inputs,
 * end stdout with one JSON object. The commands are found by walking the
 * program main.ts runs (src/cli/program.ts), so a new subcommand is covered
 * as soon as it is registered: it must accept --json, and it must be listed
 * below, either with a tiny run or with the reason it is not run here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { createProgram } from "../../src/cli/program.ts";
import { createTinyQwen } from "../model/tiny-qwen.ts";
import { spawnServe } from "../serve/helpers.ts";

const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));
const root = await mkdtemp(join(tmpdir(), "reasonrl-json-"));
after(() => rm(root, { recursive: true, force: true }));

const model = join(root, "tiny");
const problems = join(root, "problems.jsonl");
const datasets = join(root, "datasets");

/** Command paths ("data curate") of every command that runs something (groups only hold subcommands). */
function commandPaths(command: Command, prefix: string[] = []): string[] {
  const paths: string[] = [];
  for (const sub of command.commands) {
    const path = [...prefix, sub.name()];
    // commander keeps the action in a private field; a group without one only prints its help.
    if ((sub as unknown as { _actionHandler: unknown })._actionHandler) paths.push(path.join(" "));
    paths.push(...commandPaths(sub, path));
  }
  return paths;
}

function commandAt(program: Command, path: string): Command {
  let command = program;
  for (const name of path.split(" ")) {
    const next = command.commands.find((c) => c.name() === name);
    assert.ok(next, `no command ${path}`);
    command = next;
  }
  return command;
}

/** Tiny runs: the arguments (before --json) of each command run here, in this order. */
const RUNS: Array<[path: string, args: () => string[]]> = [
  ["verify", () => ["--gold", "\\frac{1}{2}", "--pred", "0.5"]],
  ["data steps", () => []],
  ["data inspect", () => [problems]],
  ["data download", () => ["someone/offline-set", "--datasets", datasets]],
  ["data curate", () => [join(root, "curate.yaml"), "--out", join(root, "curated")]],
  ["model check", () => [model]],
  ["export gguf", () => ["--model", model, "--out", join(root, "tiny.gguf")]],
  ["generate", () => ["--model", model, "--prompt", "1+1=", "--max-tokens", "3", "--temperature", "0"]],
  [
    "eval",
    () => [
      "--model",
      model,
      "--benchmark",
      problems,
      "--max-tokens",
      "3",
      "--temperature",
      "0",
      "--out",
      join(root, "eval"),
    ],
  ],
  ["eval compare", () => [join(root, "eval")]],
  ["runs list", () => [root]],
  ["runs export", () => [join(root, "eval"), "--format", "parquet", "--out", join(root, "parquet")]],
  ["devices", () => []],
  [
    "plan",
    () => [
      fileURLToPath(new URL("../../recipes/demo.yaml", import.meta.url)),
      "--no-probe",
      "--set",
      `model.path=${model}`,
    ],
  ],
  ["train", () => [join(root, "train.yaml")]],
];

/** Commands not run here, and why (their --json is still checked above). */
const NOT_RUN: Record<string, string> = {
  serve: "runs until stopped: its own test below",
  dashboard: "runs until stopped: test/serve/dashboard-cli.test.ts runs it with --json",
  "model init": "test/cli/model-generate.test.ts runs it with --json",
  demo: "minutes of training: test/demo/grpo-demo.test.ts",
  "bench curate": "minutes: a benchmark",
  "bench engine": "minutes: a benchmark",
  "bench verify": "minutes: a benchmark",
  "bench generate": "minutes: a benchmark",
  "bench grpo": "minutes: a benchmark",
  "bench serve": "minutes: a benchmark",
  "bench memory": "minutes: a benchmark",
  "bench llama-server": "minutes: a benchmark (and a llama-server build)",
};

before(async () => {
  await createTinyQwen(model);
  await writeFile(
    problems,
    `${[1, 2, 3].map((i) => JSON.stringify({ id: `p${i}`, problem: `What is ${i} + ${i}?`, answer: `${2 * i}` })).join("\n")}\n`,
  );
  // A hub dataset put into the cache by hand: `data download` serves it without a network.
  const hand = join(datasets, "someone", "offline-set", "main", "data");
  await mkdir(hand, { recursive: true });
  await writeFile(join(hand, "train.jsonl"), `${JSON.stringify({ problem: "By hand?", answer: "1" })}\n`);
  await writeFile(
    join(root, "curate.yaml"),
    `name: tiny\nsources:\n  - { name: sums, path: ${JSON.stringify(problems)} }\nsteps:\n  - step: verifiable\n  - step: write\n`,
  );
  await writeFile(
    join(root, "train.yaml"),
    JSON.stringify({
      name: "tiny",
      runsDir: join(root, "runs"),
      model: {
        path: join(root, "train-model"),
        init: { tokenizer: "arithmetic", config: { hidden: 16, layers: 1, heads: 2, kvHeads: 1, ffn: 32 } },
        threads: 1,
      },
      data: { train: { path: problems } },
      sft: {
        data: { path: join(root, "sft.jsonl") },
        steps: 1,
        batchSize: 1,
        optimizer: { lr: 1e-3 },
      },
    }),
  );
  await writeFile(
    join(root, "sft.jsonl"),
    `${JSON.stringify({ problem: "Compute 1+1.", completion: "1+1=2\n</think>\n\\boxed{2}" })}\n`,
  );
});

/** The JSON object of the last stdout line, or a failure that shows what was printed. */
function lastJson(stdout: string, stderr: string, what: string): Record<string, unknown> {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  let parsed: unknown;
  try {
    parsed = JSON.parse(last);
  } catch {
    assert.fail(`${what}: the last stdout line is not JSON: ${JSON.stringify(last)}\nstderr: ${stderr}`);
  }
  assert.ok(
    typeof parsed === "object" && parsed !== null && !Array.isArray(parsed),
    `${what}: not an object`,
  );
  return parsed as Record<string, unknown>;
}

test("every subcommand accepts --json, and is run here or says why not", () => {
  const program = createProgram();
  const paths = commandPaths(program);
  assert.ok(paths.length >= 10, `found only ${paths.join(", ")}`);
  for (const path of paths) {
    const command = commandAt(program, path);
    assert.ok(
      command.options.some((o) => o.long === "--json"),
      `reasonrl ${path} has no --json option (use jsonOption() of src/cli/options.ts)`,
    );
    assert.ok(
      RUNS.some(([p]) => p === path) || path in NOT_RUN,
      `reasonrl ${path} is new: add a tiny run to RUNS in this file, or the reason it is not run to NOT_RUN`,
    );
  }
});

const registered = new Set(commandPaths(createProgram()));
for (const [path, args] of RUNS) {
  test(`reasonrl ${path} --json ends with one JSON line`, { skip: !registered.has(path) }, () => {
    const r = spawnSync(process.execPath, [bin, ...path.split(" "), ...args(), "--json"], {
      encoding: "utf8",
      cwd: root,
      env: { ...process.env, HF_ENDPOINT: "http://127.0.0.1:9", REASONRL_DATASETS: datasets },
    });
    assert.equal(r.status, 0, `reasonrl ${path} failed:\n${r.stderr}`);
    lastJson(r.stdout, r.stderr, `reasonrl ${path}`);
    for (const line of r.stdout.trim().split("\n").slice(0, -1))
      assert.ok(line.trim() === "" || line.startsWith("{"), `reasonrl ${path} --json printed text: ${line}`);
  });
}

test("reasonrl serve --json prints one JSON line once listening, and exits 0 on SIGTERM", async () => {
  const serve = await spawnServe(["--model", model, "--port", "0", "--threads", "1", "--json"], (stdout) =>
    stdout.includes("\n") ? stdout.split("\n")[0] : undefined,
  );
  try {
    const ready = JSON.parse(serve.value) as { url: string; model: string };
    assert.equal(ready.model, "tiny");
    assert.equal((await fetch(`${ready.url}/health`)).status, 200);
  } finally {
    serve.child.kill("SIGTERM");
  }
  assert.equal(await serve.exited, 0, serve.output.stderr);
  lastJson(serve.output.stdout, serve.output.stderr, "reasonrl serve");
  assert.match(serve.output.stderr, /SIGTERM: stopping/);
});
