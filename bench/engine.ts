/**
 * `reasonrl bench engine`: training throughput of the engine against the
 * machine's best matrix product, measured in the same run.
 *
 * Trains a ~10M-parameter Llama-style model (V 10240, C 256, 6 layers,
 * 4 heads, F 768, T 256, B 8, f32) for a few steps of forward + backward +
 * AdamW, and times a 1024^3 sgemm on the same engine (OpenBLAS when the
 * build has it, else ggml's mul_mat). train_gflops = 6 * params * tokens / step_s.
 */
import { AdamW, Engine } from "../src/engine/index.ts";
import {
  countParameters,
  initLlamaWeights,
  llamaParameters,
  parseLlamaConfig,
  weightedNllLoss,
} from "../src/model/llama.ts";

export interface EngineBenchOptions {
  steps: number;
  threads?: number;
  batch: number;
  seq: number;
  log: (line: string) => void;
}

export interface EngineBenchResult {
  bench: "engine";
  params: number;
  tokens: number;
  step_s: number;
  train_gflops: number;
  sgemm_gflops: number;
  sgemm_backend: string;
  ratio: number;
  threads: number;
}

export async function benchEngine(opts: EngineBenchOptions): Promise<EngineBenchResult> {
  const engine = new Engine({ threads: opts.threads });
  const info = engine.info();
  opts.log(`engine: ${info.backends.join(" + ")}, ${info.threads} threads`);

  // --- the comparison point: a 1024^3 single-precision matrix product ---
  const n = 1024;
  const a = engine.tensor([n, n], { data: Float32Array.from({ length: n * n }, (_, i) => (i % 7) - 3) });
  const b = engine.tensor([n, n], { data: Float32Array.from({ length: n * n }, (_, i) => (i % 5) - 2) });
  const mm = engine.graph({ name: "sgemm" });
  mm.build({ effects: [mm.linear(a, b)] });
  /** Seconds per sgemm, averaged over a few repetitions. */
  const timeSgemm = async (reps: number) => {
    const t = performance.now();
    for (let i = 0; i < reps; i++) await mm.compute();
    return (performance.now() - t) / 1000 / reps;
  };

  // --- training steps of the small Llama ---
  const config = parseLlamaConfig({
    vocabSize: 10240,
    hidden: 256,
    layers: 6,
    heads: 4,
    kvHeads: 4,
    ffn: 768,
  });
  const weights = initLlamaWeights(engine, config, 1);
  const params = llamaParameters(weights);
  const nParams = countParameters(weights);
  const { batch: B, seq: T } = opts;
  const tokens = B * T;
  const ids = engine.tensor([B, T], {
    dtype: "i32",
    data: Int32Array.from({ length: tokens }, (_, i) => (i * 7919) % config.vocabSize),
  });
  const pos = engine.tensor([T], { dtype: "i32", data: Int32Array.from({ length: T }, (_, i) => i) });
  const targets = Int32Array.from({ length: tokens }, (_, i) => ((i + 1) * 7919) % config.vocabSize);
  const weightsPerToken = engine.tensor([tokens], { data: new Float32Array(tokens).fill(1 / tokens) });
  const g = engine.graph({ name: "train", capacity: 8192 });
  const { loss } = weightedNllLoss(g, config, weights, ids, pos, targets, weightsPerToken);
  g.build({ loss, outputs: [loss], backward: true });
  const opt = new AdamW(engine, params, { lr: 1e-3, maxGradNorm: 1 });
  opts.log(
    `model: ${(nParams / 1e6).toFixed(2)}M parameters, ${tokens} tokens per step, ${g.nodeCount()} graph nodes`,
  );

  // Each step is paired with sgemm timings taken just before it, so both sides
  // of the ratio see the same machine conditions; the medians are reported.
  const times: number[] = [];
  const sgemmTimes: number[] = [];
  for (let step = 0; step <= opts.steps; step++) {
    const sgemmS = await timeSgemm(3);
    const t0 = performance.now();
    const [l] = await g.compute();
    await opt.step();
    const s = (performance.now() - t0) / 1000;
    if (step > 0) {
      times.push(s); // step 0 warms up allocations
      sgemmTimes.push(sgemmS);
    }
    const gf = (2 * n ** 3) / sgemmS / 1e9;
    opts.log(
      `step ${step}: loss ${l[0].toFixed(4)}, ${s.toFixed(3)} s${step === 0 ? " (warm-up)" : ""}; sgemm ${gf.toFixed(1)} GFLOP/s`,
    );
  }
  mm.free();
  const sgemmGflops = (2 * n ** 3) / median(sgemmTimes) / 1e9;
  const stepS = median(times);
  const trainGflops = (6 * nParams * tokens) / stepS / 1e9;
  return {
    bench: "engine",
    params: nParams,
    tokens,
    step_s: round(stepS),
    train_gflops: round(trainGflops),
    sgemm_gflops: round(sgemmGflops),
    sgemm_backend: info.blas ? "OpenBLAS" : "ggml",
    ratio: round(trainGflops / sgemmGflops),
    threads: info.threads,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
