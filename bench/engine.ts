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
  await mm.compute(); // warm-up
  const reps = 10;
  let t0 = performance.now();
  for (let i = 0; i < reps; i++) await mm.compute();
  const sgemmS = (performance.now() - t0) / 1000 / reps;
  const sgemmGflops = (2 * n ** 3) / sgemmS / 1e9;
  opts.log(`sgemm ${n}^3: ${(sgemmS * 1000).toFixed(1)} ms, ${sgemmGflops.toFixed(1)} GFLOP/s`);
  mm.free();

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

  const times: number[] = [];
  for (let step = 0; step <= opts.steps; step++) {
    t0 = performance.now();
    const [l] = await g.compute();
    await opt.step();
    const s = (performance.now() - t0) / 1000;
    if (step > 0) times.push(s); // step 0 warms up allocations
    opts.log(`step ${step}: loss ${l[0].toFixed(4)}, ${s.toFixed(3)} s${step === 0 ? " (warm-up)" : ""}`);
  }
  times.sort((x, y) => x - y);
  const stepS = times[Math.floor(times.length / 2)]; // median
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

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
