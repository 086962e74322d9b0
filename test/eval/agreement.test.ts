/**
 * The three targets of `reasonrl eval` on one tiny random model agree for greedy decoding:
 * --model (our engine), --endpoint (`reasonrl serve` on loopback, a real server) and --gguf
 * (the exported GGUF in llama.cpp).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { evaluate } from "../../src/eval/evaluate.ts";
import type { TargetSpec } from "../../src/eval/targets.ts";
import { exportGguf } from "../../src/model/gguf.ts";
import { VerifierPool } from "../../src/verify/pool.ts";
import { createTinyQwen } from "../model/tiny-qwen.ts";

const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));
const root = await mkdtemp(join(tmpdir(), "reasonrl-eval-agree-"));
const pool = new VerifierPool();
after(async () => {
  await pool.close();
  await rm(root, { recursive: true, force: true });
});

test("--model, --endpoint and --gguf give the same greedy samples", async (t) => {
  // Width 64 and two layers: greedy text that varies from problem to problem (narrower models repeat one token).
  const model = join(root, "tiny");
  await createTinyQwen(model, { hidden: 64, layers: 2, heads: 4, kvHeads: 2, tieEmbeddings: false, seed: 1 });
  const gguf = join(root, "tiny.gguf");
  await exportGguf(model, gguf);
  const bench = join(root, "sums.jsonl");
  await writeFile(
    bench,
    ["What is 1 + 1?", "Compute 7 * 6.", "Solve x + 3 = 5."]
      .map((problem, i) => JSON.stringify({ problem, answer: `${i}` }))
      .join("\n"),
  );

  const server = spawn(process.execPath, [bin, "serve", "--model", model, "--port", "0", "--threads", "1"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => server.kill("SIGKILL"));
  // The server loads while the other two targets run.
  const serverUrl = new Promise<string>((resolve, reject) => {
    let seen = "";
    server.stdout.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
      if (m) resolve(m[1]);
    });
    server.on("exit", (code) => reject(new Error(`reasonrl serve exited (${code}): ${seen}`)));
  });

  const options = {
    customBenchmarks: [bench],
    prompt: "deepseek",
    n: 1,
    temperature: 0,
    maxTokens: 16,
    concurrency: 3,
  };
  const targets: Record<string, () => Promise<TargetSpec>> = {
    model: async () => ({ kind: "local", dir: model, threads: 1 }),
    gguf: async () => ({ kind: "gguf", file: gguf, threads: 1, contextSize: 512, sequences: 3 }),
    endpoint: async () => ({ kind: "endpoint", url: await serverUrl, retries: 0 }),
  };
  const completions: Record<string, string[]> = {};
  for (const [name, targetOf] of Object.entries(targets)) {
    const target = await targetOf();
    const { out } = await evaluate(target, { ...options, out: join(root, name) }, { pool, warn: () => {} });
    completions[name] = readFileSync(join(out, "samples.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { completion: string; tokens: number }).completion);
  }
  assert.equal(completions.model.length, 3);
  assert.ok(new Set(completions.model).size > 1, "the problems get different completions");
  assert.ok(completions.model.every((c) => c.length > 0));
  assert.deepEqual(completions.endpoint, completions.model);
  assert.deepEqual(completions.gguf, completions.model);
});
