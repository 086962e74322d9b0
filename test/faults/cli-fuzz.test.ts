/**
 * CLI fuzz: every subcommand with bad flag values, unknown flags, missing and
 * extra arguments, and bad files (missing, empty, binary, truncated, of the
 * wrong schema, a folder for a file and a file for a folder), drawn from a
 * seeded generator. Every run must end with a one-line error on stderr,
 * "reasonrl: ...", that names the flag, file, line or field at fault; a
 * non-zero exit status; and no stack trace anywhere.
 *
 * The cases run in-process through run-cli.ts (the same path as bin/reasonrl.js,
 * without a node start per case), with console output captured; a handful run
 * as real processes, with and without --verbose (which alone prints a stack).
 * The commands are found by walking the program, so a new subcommand is fuzzed
 * as soon as it is registered. Sizes: REASONRL_FUZZ_SEED (default 1),
 * REASONRL_FUZZ_CASES (random cases on top of the fixed ones, default 150).
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Command, Option } from "commander";
import { createProgram } from "../../src/cli/program.ts";
import { runCli } from "../../src/cli/run-cli.ts";
import { seededRandom } from "../../src/model/random.ts";
import { createTinyQwen } from "../model/tiny-qwen.ts";

const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));
const seed = Number(process.env.REASONRL_FUZZ_SEED ?? 1);
const randomCases = Number(process.env.REASONRL_FUZZ_CASES ?? 150);
const root = await mkdtemp(join(tmpdir(), "reasonrl-fuzz-"));
after(() => rm(root, { recursive: true, force: true }));

/** The same cases for the same seed. */
const rand = seededRandom(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];

/** One fuzz case: the arguments, and the texts of which the error line must contain at least one. */
interface Case {
  kind: string;
  args: string[];
  names: string[];
}

// ---- Bad values of flags that parse their value (numbers, choices, devices) ----

/** Values no numeric, choice or device parser accepts. */
const BAD_VALUES = [
  "abc",
  "",
  "12x",
  "1.2.3",
  "NaN",
  "Infinity",
  "1e999",
  "0x1g",
  "½",
  "--",
  " ",
  "f64",
  "gpu:x",
];

/** The options of a command that check their value where it is read (a parser or a list of choices). */
const checkedOptions = (c: Command): Option[] =>
  c.options.filter((o) => (o.required || o.optional) && (o.argChoices || (o.parseArg && !isFreeText(o))));

/** Options whose parser accepts any text (repeatable lists, comma lists): fuzzed through files instead. */
const isFreeText = (o: Option) =>
  ["--set", "--allow-change", "--benchmark", "--benchmarks", "--k", "--batches"].includes(o.long ?? "");

// ---- Bad files ----

const badFiles: Record<string, string> = {};
const badDirs: Record<string, string> = {};

/** Writes the bad files once: each kind for YAML recipes, JSONL data and model folders. */
async function makeBadFiles(): Promise<void> {
  const put = async (name: string, content: string | Buffer) => {
    const path = join(root, "files", name);
    await writeFile(path, content);
    return path;
  };
  await mkdir(join(root, "files"), { recursive: true });
  await mkdir(join(root, "out"), { recursive: true });
  const binary = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 131 + 7) % 256));
  for (const ext of ["yaml", "jsonl", "json"]) {
    badFiles[`missing.${ext}`] = join(root, "files", `missing.${ext}`);
    badFiles[`empty.${ext}`] = await put(`empty.${ext}`, "");
    badFiles[`binary.${ext}`] = await put(`binary.${ext}`, binary);
    badFiles[`folder.${ext}`] = join(root, "files", `folder.${ext}`);
    await mkdir(badFiles[`folder.${ext}`], { recursive: true });
  }
  badFiles["truncated.yaml"] = await put("truncated.yaml", "name: x\nmodel:\n  path: [unclosed\n  dtype: ");
  badFiles["list.yaml"] = await put("list.yaml", "- just\n- a list\n");
  badFiles["wrong-types.yaml"] = await put(
    "wrong-types.yaml",
    "name: 5\nmodel: 3\ndata: {train: {path: 7}}\ngrpo: {steps: -1}\nsteps: [{step: nope}]\nsources: 3\n",
  );
  badFiles["truncated.jsonl"] = await put(
    "truncated.jsonl",
    '{"problem": "1+1", "answer": "2", "gold": "2"}\n{"problem": "2+',
  );
  badFiles["wrong-schema.jsonl"] = await put("wrong-schema.jsonl", '[1, 2]\n3\n"text"\nnull\n');
  badFiles["truncated.json"] = await put("truncated.json", '{"model_type": "qwen2", "hidden_size": ');
  badFiles["wrong-schema.json"] = await put(
    "wrong-schema.json",
    '{"model_type": "gpt9", "hidden_size": "big"}',
  );

  // Model folders (and tokenizer folders): missing, empty, a file, config.json of each bad kind, truncated weights.
  badDirs.missing = join(root, "dirs", "missing");
  badDirs.empty = join(root, "dirs", "empty");
  await mkdir(badDirs.empty, { recursive: true });
  badDirs.file = badFiles["empty.json"];
  for (const kind of ["empty", "binary", "truncated", "wrong-schema"]) {
    const dir = join(root, "dirs", `config-${kind}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "config.json"), await readFile(badFiles[`${kind}.json`]));
    await writeFile(join(dir, "tokenizer.json"), await readFile(badFiles[`${kind}.json`]));
    badDirs[`config-${kind}`] = dir;
  }
  const cut = join(root, "dirs", "truncated-weights");
  await createTinyQwen(cut);
  await truncate(join(cut, "model.safetensors"), 5000);
  badDirs["truncated-weights"] = cut;
}

/**
 * The inputs of each command that read files or folders, as argument lists around one bad
 * path (`{}`); commands that only compute (bench, demo, devices, data steps) have none.
 */
const FILE_INPUTS: Record<
  string,
  { args: string[]; kinds: "file" | "dir" | "tokenizer" | "yaml" | "jsonl"; except?: string[] }[]
> = {
  train: [{ args: ["{}"], kinds: "yaml" }],
  plan: [{ args: ["{}", "--no-probe"], kinds: "yaml" }],
  "data curate": [{ args: ["{}", "--out", "@out"], kinds: "yaml" }],
  // A file with some good rows is inspected, its bad lines listed (exit 0): inspecting them is the command's job.
  "data inspect": [{ args: ["{}"], kinds: "jsonl", except: ["truncated.jsonl"] }],
  verify: [{ args: ["--in", "{}", "--out", "@out.jsonl"], kinds: "jsonl" }],
  "model init": [
    {
      args: [
        "--arch",
        "qwen2",
        "--vocab-from",
        "{}",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--heads",
        "2",
        "--ffn",
        "8",
        "--out",
        "@out",
      ],
      kinds: "tokenizer",
    },
  ],
  "model check": [{ args: ["{}"], kinds: "dir" }],
  generate: [{ args: ["--model", "{}", "--prompt", "hi", "--max-tokens", "2"], kinds: "dir" }],
  "export gguf": [{ args: ["--model", "{}", "--out", "@out/x.gguf"], kinds: "dir" }],
  eval: [{ args: ["--model", "{}", "--benchmark", "{}", "--out", "@out"], kinds: "jsonl" }],
  "eval compare": [{ args: ["{}"], kinds: "dir" }],
  serve: [{ args: ["--model", "{}", "--port", "0"], kinds: "dir" }],
};

/** The bad paths of a kind of input. */
function badPathsOf(kind: "file" | "dir" | "tokenizer" | "yaml" | "jsonl"): string[] {
  if (kind === "dir") return Object.values(badDirs);
  // A tokenizer folder: the model folder with truncated weights has a good tokenizer.
  if (kind === "tokenizer")
    return Object.entries(badDirs)
      .filter(([k]) => k !== "truncated-weights")
      .map(([, p]) => p);
  const ext = kind === "file" ? "json" : kind;
  return Object.entries(badFiles)
    .filter(([name]) => name.endsWith(`.${ext}`))
    .map(([, path]) => path);
}

// ---- Running a case ----

interface Outcome {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in this process with `args`, console output captured. */
async function runInProcess(args: string[]): Promise<Outcome> {
  let [out, err] = ["", ""];
  const saved = { log: console.log, error: console.error, warn: console.warn, info: console.info };
  const text = (xs: unknown[]) =>
    `${xs.map((x) => (typeof x === "string" ? x : x instanceof Error ? (x.stack ?? String(x)) : JSON.stringify(x))).join(" ")}\n`;
  console.log = console.info = (...xs: unknown[]) => {
    out += text(xs);
  };
  console.error = console.warn = (...xs: unknown[]) => {
    err += text(xs);
  };
  try {
    const code = await runCli(["node", "reasonrl", ...args]);
    return { code, out, err };
  } finally {
    Object.assign(console, saved);
    process.exitCode = undefined;
  }
}

/**
 * Failures known today whose fix lies in a file this suite's owner does not edit: each is still
 * run, and reported as a todo (with its reason) until it passes.
 */
const KNOWN: Array<[RegExp, string]> = [];
const knownReason = (c: Case) => KNOWN.find(([re]) => re.test(c.args.join(" ")))?.[1];

/** What is wrong with an outcome (null: a clean failure naming one of `names`). */
function problemOf(c: Case, o: Outcome): string | null {
  if (o.code === 0) return "exit status 0";
  if (o.code === 130) return "exit status 130 (stopped) for an error";
  const lines = o.err.split("\n").filter((l) => l.trim() !== "");
  const last = lines.at(-1) ?? "";
  if (!last.startsWith("reasonrl: "))
    return `stderr does not end with "reasonrl: ..." (${JSON.stringify(last)})`;
  if (lines.filter((l) => l.startsWith("reasonrl: ")).length !== 1) return "more than one error line";
  if (/^\s+at \S.*(:\d+:\d+\)?|native)$/m.test(o.err + o.out)) return "a stack trace was printed";
  if (!c.names.some((n) => last.includes(n))) return `the error names none of ${JSON.stringify(c.names)}`;
  return null;
}

// ---- The cases ----

/** Every command that runs something, by path ("data curate"), with its Command. */
function commands(): [string, Command][] {
  const out: [string, Command][] = [];
  const walk = (c: Command, prefix: string[]) => {
    for (const sub of c.commands) {
      const path = [...prefix, sub.name()];
      if ((sub as unknown as { _actionHandler: unknown })._actionHandler) out.push([path.join(" "), sub]);
      walk(sub, path);
    }
  };
  walk(createProgram(), []);
  return out;
}

/** Every command that only holds subcommands ("data", "model"), by path. */
function groups(): string[] {
  const out: string[] = [];
  const walk = (c: Command, prefix: string[]) => {
    for (const sub of c.commands) {
      const path = [...prefix, sub.name()];
      if (!(sub as unknown as { _actionHandler: unknown })._actionHandler) out.push(path.join(" "));
      walk(sub, path);
    }
  };
  walk(createProgram(), []);
  return out;
}

/** A fresh output folder for a case (outputs of one case never meet another's). */
let outs = 0;
const withOut = (args: string[]) => {
  const out = join(root, "out", String(outs++));
  return args.map((a) => a.replaceAll("@out", out));
};

/** The fixed cases (each command at least once per kind), then `randomCases` drawn at random. */
function buildCases(): Case[] {
  const all = commands();
  const fixed: Case[] = [];
  const draw: Array<() => Case> = [];
  for (const [path, command] of all) {
    const words = path.split(" ");
    // Commander reports a missing mandatory flag first: that names a flag too.
    const missingFlag = "required option '";
    fixed.push({
      kind: "unknown flag",
      args: [...words, "--no-such-flag"],
      names: ["--no-such-flag", missingFlag],
    });
    const required = command.registeredArguments.filter((a) => a.required);
    if (required.length)
      fixed.push({
        kind: "missing argument",
        args: words,
        names: [`'${required[0].name()}'`, missingFlag],
      });
    else if (!command.registeredArguments.length)
      fixed.push({
        kind: "extra argument",
        args: [...words, "stray"],
        names: [`'${words.at(-1)}'`, "stray", missingFlag],
      });
    for (const o of checkedOptions(command)) {
      const flag = o.long ?? o.flags;
      draw.push(() => ({ kind: "bad flag value", args: [...words, flag, pick(BAD_VALUES)], names: [flag] }));
      fixed.push({ kind: "bad flag value", args: [...words, flag, BAD_VALUES[0]], names: [flag] });
    }
    for (const input of FILE_INPUTS[path] ?? []) {
      const paths = badPathsOf(input.kinds).filter((p) => !input.except?.some((e) => p.endsWith(`/${e}`)));
      const make = (bad: string): Case => ({
        kind: "bad file",
        args: withOut([...words, ...input.args.map((a) => (a === "{}" ? bad : a))]),
        names: [bad],
      });
      for (const bad of paths) fixed.push(make(bad));
      draw.push(() => make(pick(paths)));
    }
  }
  // A group named without its subcommand (`reasonrl data`): its help, then an error naming it.
  for (const group of groups())
    fixed.push({
      kind: "group without command",
      args: group.split(" "),
      names: [`${group}: which command?`],
    });
  fixed.push({ kind: "group without command", args: [], names: ["a command is needed"] });
  // --set overrides that are malformed or give a field a wrong value (recipe commands).
  const BAD_SETS = [
    "noequals",
    "=1",
    "a..b=1",
    "grpo.steps=abc",
    "grpo.steps=-3",
    "model.dtype=f64",
    "__proto__.x=1",
    "grpo.steps={",
    "seed=1.5",
  ];
  for (const set of BAD_SETS) {
    const field = set.includes("=") ? set.slice(0, set.indexOf("=")) : set;
    const names = [set, field, "override"];
    fixed.push({ kind: "bad --set", args: ["train", "recipes/demo.yaml", "--set", set], names });
    fixed.push({ kind: "bad --set", args: ["demo", "--set", set], names });
    fixed.push({
      kind: "bad --set",
      args: ["plan", "recipes/open-rs2.yaml", "--set", set, "--no-probe"],
      names,
    });
  }
  draw.push(() => {
    const set = pick(BAD_SETS);
    return {
      kind: "bad --set",
      args: ["train", "recipes/demo.yaml", "--set", set],
      names: [set, set.split("=")[0], "override"],
    };
  });
  fixed.push({
    kind: "bad --allow-change",
    args: ["train", "recipes/demo.yaml", "--allow-change", "seed"],
    names: ["--allow-change seed"],
  });
  return [...fixed, ...Array.from({ length: randomCases }, () => pick(draw)())];
}

before(makeBadFiles);

test(`CLI fuzz (seed ${seed}): every bad input ends in one error line naming it, a non-zero status, no stack`, async (t) => {
  const cases = buildCases();
  const failures: string[] = [];
  const known: string[] = [];
  const byKind = new Map<string, number>();
  for (const c of cases) {
    const outcome = await runInProcess(c.args);
    const problem = problemOf(c, outcome);
    byKind.set(c.kind, (byKind.get(c.kind) ?? 0) + 1);
    const reason = problem ? knownReason(c) : undefined;
    if (problem && reason) known.push(`reasonrl ${c.args.join(" ")}: ${problem} [known: ${reason}]`);
    else if (problem)
      failures.push(
        `reasonrl ${c.args.join(" ")}: ${problem}\n  stderr: ${outcome.err.trim().split("\n").at(-1)}`,
      );
  }
  t.diagnostic(
    `${cases.length} cases over ${commands().length} commands and ${groups().length} groups (${[...byKind].map(([k, n]) => `${n} ${k}`).join(", ")}): ${cases.length - failures.length - known.length} clean, ${known.length} known failures, ${failures.length} not`,
  );
  // Each known failure as a todo subtest: it fails today without failing the suite, and says why.
  for (const k of known)
    await t.test(k, { todo: true }, () => {
      throw new Error(k);
    });
  assert.deepEqual(failures, []);
});

test("real processes: one error line and status 1; the stack only with --verbose or REASONRL_DEBUG=1", () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  const bad = ["verify", "--in", badFiles["binary.jsonl"], "--out", join(root, "out", "v.jsonl")];
  for (const args of [
    bad,
    ["train", badFiles["missing.yaml"]],
    ["generate", "--max-tokens", "x"],
    ["frob"],
  ]) {
    const r = run(args);
    assert.equal(r.status, 1, args.join(" "));
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^reasonrl: \S/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  for (const [args, env] of [
    [[...bad, "--verbose"], {}],
    [bad, { REASONRL_DEBUG: "1" }],
  ] as const) {
    const r = run([...args], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\n\s+at .*:\d+:\d+/, "a stack with --verbose");
    assert.match(r.stderr, /\nreasonrl: .*binary\.jsonl:1: /);
  }
});
