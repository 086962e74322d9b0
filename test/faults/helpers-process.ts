/**
 * What the fault tests share: `reasonrl` run as a child process (to completion, or killed with
 * SIGKILL after a given time), the commands they break (train, eval, data curate, export gguf on
 * tiny fixtures, each writing into one output folder), and the checks of an output folder
 * afterwards: every file under its final name complete (it parses to its end; a run store opens
 * and is whole, helpers-store.ts), temporaries left behind, and the same files as an uninterrupted
 * run.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { parse as parseYaml, stringify } from "yaml";
import { makeTinyCharModel } from "../model/tiny-char-model.ts";
import { createTinyQwen } from "../model/tiny-qwen.ts";
import { tinyRunRecipe } from "../rl/helpers.ts";
import { checkStore, isStoreFile, isStoreSideFile, storeDifference } from "./helpers-store.ts";

export const checkout = fileURLToPath(new URL("../..", import.meta.url));
export const bin = join(checkout, "bin", "reasonrl.js");

/** How a child run ended. */
export interface ChildRun {
  /** Exit code (null when a signal ended it). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** True when the test killed it (it was still running at the kill). */
  killed: boolean;
  /** When the `watch` path first existed (ms after the start), if it did. */
  watchedMs?: number;
}

/** Options of `runChild`. */
export interface ChildOptions {
  /** The program (default: node, with bin/reasonrl.js before the arguments). */
  command?: string;
  env?: NodeJS.ProcessEnv;
  /** A path whose first appearance is noted (polled every 20 ms): `watchedMs`. */
  watch?: string;
  /** Send SIGKILL this long after the start, or after `watch` appeared (unless it has exited). */
  killAfterMs?: number;
  /** Count `killAfterMs` from the moment `watch` first exists, not from the start. */
  killFromWatch?: boolean;
}

/**
 * Runs `command args` (by default `node bin/reasonrl.js args`) from the checkout, collecting its
 * output; kills it with SIGKILL when `killAfterMs` says.
 */
export function runChild(args: readonly string[], o: ChildOptions = {}): Promise<ChildRun> {
  const command = o.command ?? process.execPath;
  const argv = o.command ? [...args] : [bin, ...args];
  const t0 = performance.now();
  const child = spawn(command, argv, {
    cwd: checkout,
    env: { ...process.env, ...o.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  let killed = false;
  let timer: NodeJS.Timeout | undefined;
  const killLater = (ms: number) => {
    timer = setTimeout(() => {
      killed = child.exitCode === null && child.signalCode === null;
      if (killed) child.kill("SIGKILL");
    }, ms);
  };
  if (o.killAfterMs !== undefined && !o.killFromWatch) killLater(o.killAfterMs);
  let watchedMs: number | undefined;
  const watch = o.watch;
  const poll =
    watch === undefined
      ? undefined
      : setInterval(() => {
          if (watchedMs !== undefined || !existsSync(watch)) return;
          watchedMs = performance.now() - t0;
          if (o.killAfterMs !== undefined && o.killFromWatch) killLater(o.killAfterMs);
        }, 20);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0, killed, watchedMs });
    });
  });
}

/** A seeded uniform generator on [0, 1), for reproducible fault moments. */
export { seededRandom } from "../../src/model/random.ts";

/** An integer setting from the environment (`fallback` when unset); a bad value is an error naming it. */
export function envInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name}=${text}: expected a whole number >= 0`);
  return n;
}

/** A command the fault tests break: its arguments for an output folder, and the folder it writes. */
export interface Job {
  /** "train", "eval", "data curate", "export gguf". */
  name: string;
  /** The arguments that make the command write everything into `out` (export: `out` must exist). */
  args(out: string): string[];
}

/**
 * The four commands on tiny fixtures made in `root`, each writing only inside its `out`:
 *
 * - train: SFT (3 steps) then GRPO (8 steps, a checkpoint after each, held-out eval every 4) on
 *   the arithmetic task; the model is made from scratch inside `out` (model/), the run in out/tiny.
 * - eval: a custom 6-problem benchmark, 4 samples each at T 0.6 (seeded), one problem per call.
 * - data curate: 40 rows (repeats and a broken line among them) through verifiable, dedupe,
 *   difficulty (k 4 samples of a local tiny model, T 0.7, one problem per call, its cache inside
 *   `out`) and write.
 * - export gguf: a tiny Qwen2 with the real Qwen3 tokenizer, as f16, to out/tiny.gguf.
 */
export async function makeJobs(root: string): Promise<Record<"train" | "eval" | "curate" | "export", Job>> {
  await mkdir(root, { recursive: true });
  const charModel = await makeTinyCharModel(join(root, "char"), {
    extraCharacters: `${Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("")}\n`,
    maxPositions: 256,
    seed: 5,
  });
  const qwenModel = join(root, "qwen");
  await createTinyQwen(qwenModel);
  const trainRecipe = await writeTrainRecipe(join(root, "train.yaml"));
  const curateRecipe = await writeCurationFixture(root, charModel);
  const benchmark = join(root, "sums.jsonl");
  const sums = Array.from({ length: 6 }, (_, i) => ({
    id: `s${i}`,
    problem: `What is ${i} + ${i}?`,
    answer: `${2 * i}`,
  }));
  await writeFile(benchmark, sums.map((s) => `${JSON.stringify(s)}\n`).join(""));

  const evalFlags = [
    "--n",
    "4",
    "--temperature",
    "0.6",
    "--max-tokens",
    "24",
    "--concurrency",
    "1",
    "--threads",
    "2",
  ];
  return {
    train: {
      name: "train",
      args: (out) => [
        "train",
        trainRecipe,
        "--set",
        `runsDir=${out}`,
        "--set",
        `model.path=${join(out, "model")}`,
      ],
    },
    eval: {
      name: "eval",
      args: (out) => [
        "eval",
        "--model",
        charModel,
        "--benchmark",
        benchmark,
        ...evalFlags,
        "--name",
        "tiny",
        "--out",
        out,
      ],
    },
    curate: {
      name: "data curate",
      args: (out) => ["data", "curate", curateRecipe, "--out", out, "--cache-dir", join(out, "cache")],
    },
    export: {
      name: "export gguf",
      args: (out) => [
        "export",
        "gguf",
        "--model",
        qwenModel,
        "--out",
        join(out, "tiny.gguf"),
        "--type",
        "f16",
      ],
    },
  };
}

/** The training recipe (test/rl/run.test.ts's tiny one): its model and run folder are set per run. */
async function writeTrainRecipe(path: string): Promise<string> {
  await writeFile(path, stringify(tinyRunRecipe()));
  return path;
}

/** The curation fixture in `root`: 40 rows (a broken line, two repeats, one without an answer) and the recipe. */
async function writeCurationFixture(root: string, model: string): Promise<string> {
  const rows = Array.from({ length: 36 }, (_, i) => ({
    id: `p${i}`,
    problem: `What is ${i + 3} times ${i + 7}?`,
    answer: `${(i + 3) * (i + 7)}`,
  }));
  const lines = rows.map((r) => JSON.stringify(r));
  lines.splice(5, 0, "{not json", JSON.stringify({ ...rows[2], id: "p2-again" }));
  lines.push(
    JSON.stringify({ ...rows[7], id: "p7-again" }),
    JSON.stringify({ id: "none", problem: "What?" }),
  );
  const problems = join(root, "problems.jsonl");
  await writeFile(problems, `${lines.join("\n")}\n`);
  const difficulty = { target: { model }, k: 4, temperature: 0.7, maxTokens: 24, concurrency: 1 };
  const recipe = {
    name: "faults",
    seed: 7,
    sources: [{ name: "products", path: problems }],
    steps: [
      { step: "verifiable" },
      { step: "dedupe" },
      { step: "difficulty", ...difficulty, label: { easy: 0.75, hard: 0 } },
      { step: "write" },
    ],
  };
  const path = join(root, "curate.yaml");
  await writeFile(path, stringify(recipe));
  return path;
}

/** True for the names the atomic writers give their temporaries (files and folders). */
export function isTemporaryName(name: string): boolean {
  return /\.tmp$|\.tmp-\d+|^\.tmp-|\.old-\d+/.test(name);
}

/** Every file under `dir` (paths relative to it), with those inside temporary folders. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const path = join(d, e.name);
      if (e.isDirectory()) await walk(path);
      else out.push(relative(dir, path));
    }
  };
  if (existsSync(dir)) await walk(dir);
  return out.sort();
}

/** What a folder holds after a fault. */
export interface FolderScan {
  /** Files under their final names. */
  files: string[];
  /** Files under final names that are not complete, with why. */
  corrupted: { file: string; why: string }[];
  /** Files at temporary names, or inside temporary folders. */
  temporaries: string[];
}

/** Scans `dir`: which files are complete (checkFile), which are left-over temporaries. */
export async function scanFolder(dir: string): Promise<FolderScan> {
  const scan: FolderScan = { files: [], corrupted: [], temporaries: [] };
  for (const file of await listFiles(dir)) {
    if (file.split("/").some(isTemporaryName)) {
      scan.temporaries.push(file);
      continue;
    }
    scan.files.push(file);
    const why = await checkFile(join(dir, file));
    if (why) scan.corrupted.push({ file, why });
  }
  return scan;
}

/**
 * Why the file at `path` is not complete, or null: JSON parses; JSON Lines end with a newline and
 * every line parses; YAML parses; safetensors have a header that parses and exactly the bytes it
 * describes; GGUF starts with its magic; PNG ends with its IEND chunk; a run store (.sqlite)
 * opens read-only, passes SQLite's integrity check and holds whole steps only (checkStore). Other
 * files (.md, a store's -wal and -shm) are not checked.
 */
export async function checkFile(path: string): Promise<string | null> {
  if (isStoreFile(path)) return checkStore(path);
  const bytes = await readFile(path);
  const text = () => bytes.toString("utf8");
  try {
    if (path.endsWith(".json")) JSON.parse(text());
    else if (path.endsWith(".jsonl")) {
      if (bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a) return "the last line has no newline";
      for (const line of text().split("\n")) if (line.trim() !== "") JSON.parse(line);
    } else if (path.endsWith(".yaml") || path.endsWith(".yml")) parseYaml(text());
    else if (path.endsWith(".safetensors")) return checkSafetensors(bytes);
    else if (path.endsWith(".gguf"))
      return bytes.subarray(0, 4).toString("latin1") === "GGUF" ? null : "no GGUF magic";
    else if (path.endsWith(".png"))
      return bytes.subarray(-8, -4).toString("latin1") === "IEND" ? null : "no IEND chunk at the end";
  } catch (err) {
    return (err as Error).message;
  }
  return null;
}

function checkSafetensors(bytes: Buffer): string | null {
  if (bytes.length < 8) return `${bytes.length} bytes: shorter than the header length`;
  const n = Number(bytes.readBigUInt64LE(0));
  if (8 + n > bytes.length) return `header of ${n} bytes, file of ${bytes.length}`;
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")) as Record<
    string,
    { data_offsets?: number[] }
  >;
  let end = 0;
  for (const [name, t] of Object.entries(header))
    if (name !== "__metadata__") end = Math.max(end, t.data_offsets?.[1] ?? 0);
  return 8 + n + end === bytes.length
    ? null
    : `the header describes ${8 + n + end} bytes, the file has ${bytes.length}`;
}

/**
 * Keys whose values are times (seconds end in "_s": wall_s, step_s, ...) or counts of work done
 * (eval's run: generated vs cached; a curation step's cached / sampled problems and cache lines
 * cut off); they differ between an interrupted and an uninterrupted run by nature, and are
 * dropped before JSON is compared.
 */
const VOLATILE_KEYS = new Set([
  "seconds",
  "startedAt",
  "created",
  "run",
  "cached",
  "sampled",
  "cacheLinesIgnored",
]);
const isVolatile = (key: string) => VOLATILE_KEYS.has(key) || key.endsWith("_s");

function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => !isVolatile(k))
      .map(([k, v]) => [k, stable(v)]),
  );
}

/** `value` with `dir` (the output folder) replaced by "<out>" in every string, volatile keys dropped. */
function stableIn(value: unknown, dir: string): unknown {
  const replace = (v: unknown): unknown => {
    if (typeof v === "string") return v.split(dir).join("<out>");
    if (Array.isArray(v)) return v.map(replace);
    if (typeof v !== "object" || v === null) return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replace(x)]));
  };
  return stable(replace(value));
}

/**
 * The files of `reference` (a folder an uninterrupted run wrote) that differ in `folder`, or are
 * missing there, and the files only `folder` has (outside temporaries and a store's -wal and -shm
 * files). JSON and JSON Lines are compared as values without VOLATILE_KEYS, text with the output
 * folder's path replaced, a run store by its rows (storeContents, with the path replaced and
 * without VOLATILE_KEYS; a difference is named after the file), anything else byte for byte.
 */
export async function compareFolders(
  reference: string,
  folder: string,
  /** The output folder `folder`'s run wrote (when `folder` is a copy of it). */
  writtenAs = folder,
): Promise<{ compared: number; different: string[]; missing: string[]; extra: string[] }> {
  const compared = (dir: string) => listFiles(dir).then((files) => files.filter((f) => !isIgnored(f)));
  const ref = await compared(reference);
  const got = new Set(await compared(folder));
  const result = { compared: 0, different: [] as string[], missing: [] as string[], extra: [] as string[] };
  for (const file of ref) {
    if (!got.delete(file)) {
      result.missing.push(file);
      continue;
    }
    result.compared++;
    if (isStoreFile(file)) {
      const why = storeDifference(join(reference, file), join(folder, file), stableIn, reference, writtenAs);
      if (why) result.different.push(`${file} (${why})`);
      continue;
    }
    const [a, b] = await Promise.all([readFile(join(reference, file)), readFile(join(folder, file))]);
    if (!sameContent(file, a, b, reference, writtenAs)) result.different.push(file);
  }
  result.extra = [...got];
  return result;
}

/** Files not compared: temporaries (anywhere in the path) and a store's side files. */
const isIgnored = (file: string) => file.split("/").some(isTemporaryName) || isStoreSideFile(file);

function sameContent(file: string, a: Buffer, b: Buffer, refOut: string, out: string): boolean {
  // The output folder's path, and a curation step's note of work done ("(3 from the cache, 33 sampled now)").
  const textOf = (bytes: Buffer, dir: string) =>
    bytes
      .toString("utf8")
      .split(dir)
      .join("<out>")
      .replace(/\(\d+ from the cache, \d+ sampled now\)/g, "(<work>)");
  if (file.endsWith(".json"))
    return isDeepStrictEqual(stable(JSON.parse(textOf(a, refOut))), stable(JSON.parse(textOf(b, out))));
  if (file.endsWith(".jsonl")) {
    const rows = (bytes: Buffer, dir: string) =>
      textOf(bytes, dir)
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => stable(JSON.parse(l)));
    return isDeepStrictEqual(rows(a, refOut), rows(b, out));
  }
  if (file.endsWith(".md")) return withoutTimes(textOf(a, refOut)) === withoutTimes(textOf(b, out));
  if (file.endsWith(".yaml")) return textOf(a, refOut) === textOf(b, out);
  return a.equals(b);
}

/** A report's text without its times (ISO dates, "6.0 s", a table's last cell of seconds "| 0.01 |"). */
function withoutTimes(text: string): string {
  return text
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "<date>")
    .replace(/\b\d+(\.\d+)? s\b/g, "<s>")
    .replace(/\| \d+\.\d+ \|$/gm, "| <s> |");
}

/** Bytes of the files under `dir` (each rounded up to 4 KiB pages, as tmpfs counts them). */
export async function folderPages(dir: string): Promise<number> {
  let total = 0;
  for (const file of await listFiles(dir))
    total += Math.ceil((await stat(join(dir, file))).size / 4096) * 4096;
  return total;
}
