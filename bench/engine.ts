/**
 * `reasonrl bench engine`: training throughput of the engine against the
 * machine's best matrix product and, with `--peer torch`, against PyTorch
 * running the same step, all measured in the same run.
 *
 * The step: forward + backward + AdamW (lr 1e-3, betas 0.9/0.999, eps 1e-8,
 * no weight decay, gradient norm clipped at 1) of a mean next-token NLL over
 * B x T tokens, of either
 * - the built-in model: a ~10M-parameter Llama (V 10240, C 256, 6 layers,
 *   4 heads, F 768, f32, full fine-tuning; B 8, T 256), one graph per step; or
 * - a model folder (`model`), e.g. a 0.5B or 1.5B shape from `reasonrl model
 *   init`: its base frozen in `dtype`, LoRA adapters trained (`loraRank`), the
 *   loss through chunkedTokenLoss as the GRPO and SFT trainers use it.
 * The comparison point is a 1024^3 sgemm on the same engine (OpenBLAS when the
 * build has it, else ggml's mul_mat). train_gflops = 6 * params * tokens / step_s
 * (for LoRA, params are the model's, as the forward and backward still pass all of them).
 *
 * Our steps, the sgemm timings and the peer's steps alternate, so every side
 * sees the same machine; the medians after one warm-up step are reported.
 */
import { readFileSync } from "node:fs";
import { AdamW, Engine, type Tensor } from "../src/engine/index.ts";
import { chunkedTokenLoss } from "../src/model/chunked-loss.ts";
import {
  countParameters,
  initLlamaWeights,
  type LlamaConfig,
  llamaParameters,
  parseLlamaConfig,
  trainableParameters,
  weightedNllLoss,
} from "../src/model/llama.ts";
import { loadModel } from "../src/model/load.ts";
import { addLora } from "../src/model/lora.ts";
import { openMpSettings, type PeerSettings, TorchPeer, torchUnavailable } from "./peer-torch.ts";

export interface EngineBenchOptions {
  steps: number;
  threads?: number;
  batch: number;
  seq: number;
  /** A compute device ("cpu", "auto", "vulkan:0", "cuda:0", ...); default the CPU. */
  device?: string;
  /** A model folder to train instead of the built-in ~10M Llama. */
  model?: string;
  /** With `model`: LoRA rank (alpha = 2 x rank, all seven linear layers); 0 = full fine-tuning. */
  loraRank?: number;
  /** With `model` and LoRA: storage of the frozen base matrices (q8_0: QLoRA-style; PyTorch's side stays bf16). */
  dtype?: "f32" | "f16" | "bf16" | "q8_0";
  /** Also run the step in PyTorch, interleaved with ours. */
  peer?: "torch";
  log: (line: string) => void;
}

export interface EngineBenchResult {
  bench: "engine";
  model: string;
  params: number;
  trainable_params: number;
  tokens: number;
  step_s: number;
  tokens_per_s: number;
  train_gflops: number;
  sgemm_gflops: number;
  sgemm_backend: string;
  ratio: number;
  threads: number;
  device: string;
  backends: string[];
  /** Peak resident memory of this process (host memory; on a GPU the device's is measured outside). */
  peak_rss_bytes: number;
  /** PyTorch's side, present with --peer torch (null figures when torch is not importable). */
  torch?: TorchSide;
}

/** PyTorch's figures for the same step. */
export interface TorchSide {
  available: boolean;
  /** Why not, when unavailable. */
  reason?: string;
  version?: string;
  /** PyTorch's model: the same parameter counts as ours when the shapes match. */
  params?: number;
  trainable_params?: number;
  step_s?: number;
  tokens_per_s?: number;
  /** Our tokens/s over PyTorch's: above 1, ours is faster. */
  ratio?: number;
  blas?: string;
  reference_blas?: boolean;
  peak_bytes?: number;
  openmp: string;
}

/** One training step of ours, and the same step described for the peer. */
interface TrainingStep {
  name: string;
  params: number;
  trainable: number;
  /** Runs one step: forward, backward, AdamW. Returns the loss. */
  run(): Promise<number>;
  peer: Omit<PeerSettings, "threads" | "device">;
  free(): void;
}

const ADAMW = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 };

export async function benchEngine(opts: EngineBenchOptions): Promise<EngineBenchResult> {
  const engine = new Engine({ threads: opts.threads, device: opts.device });
  try {
    return await measure(engine, opts);
  } finally {
    await engine[Symbol.asyncDispose]();
  }
}

/** The bench on an engine: rounds of sgemm, our step and the peer's step, then the figures. */
async function measure(engine: Engine, opts: EngineBenchOptions): Promise<EngineBenchResult> {
  const info = engine.info();
  opts.log(`engine: ${info.backends.join(" + ")} on ${engine.device}, ${info.threads} threads`);
  const sgemm = sgemmProbe(engine);
  const step = opts.model ? await modelDirStep(engine, opts) : builtinStep(engine, opts);
  const tokens = opts.batch * opts.seq;
  opts.log(
    `model: ${step.name}, ${(step.params / 1e6).toFixed(2)}M parameters (${(step.trainable / 1e6).toFixed(2)}M trained), ${tokens} tokens per step`,
  );
  const peer = opts.peer === "torch" ? await startTorch(step, info, opts) : null;

  // sgemm, our step, the peer's step: one after the other, every round
  const times: number[] = [];
  const sgemmTimes: number[] = [];
  const peerSteps: PeerStep[] = [];
  try {
    for (let s = 0; s <= opts.steps; s++) {
      const sgemmS = await sgemm.seconds(3);
      const t0 = performance.now();
      const loss = await step.run();
      const ours = (performance.now() - t0) / 1000;
      const theirs = peer ? await peer.step() : null;
      if (s > 0) {
        // step 0 warms up allocations (and the peer's)
        times.push(ours);
        sgemmTimes.push(sgemmS);
        if (theirs) peerSteps.push(theirs);
      }
      opts.log(
        `step ${s}: loss ${loss.toFixed(4)}, ${ours.toFixed(3)} s${theirs ? `; torch ${theirs.step_s.toFixed(3)} s (loss ${theirs.loss.toFixed(4)})` : ""}` +
          `${s === 0 ? " (warm-up)" : ""}; sgemm ${(sgemm.flops / sgemmS / 1e9).toFixed(1)} GFLOP/s`,
      );
    }
  } finally {
    await peer?.close();
    sgemm.free();
    step.free();
  }
  const sgemmGflops = sgemm.flops / median(sgemmTimes) / 1e9;
  const stepS = median(times);
  const trainGflops = (6 * step.params * tokens) / stepS / 1e9;
  return {
    bench: "engine",
    model: step.name,
    params: step.params,
    trainable_params: step.trainable,
    tokens,
    step_s: round(stepS),
    tokens_per_s: round(tokens / stepS),
    train_gflops: round(trainGflops),
    sgemm_gflops: round(sgemmGflops),
    sgemm_backend: info.blas ? "OpenBLAS" : "ggml",
    ratio: round(trainGflops / sgemmGflops),
    threads: info.threads,
    device: engine.device,
    backends: info.backends,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    ...(opts.peer === "torch" ? { torch: torchSide(peer, peerSteps, tokens, stepS) } : {}),
  };
}

/** The comparison point: a 1024^3 single-precision matrix product on the engine. */
function sgemmProbe(engine: Engine) {
  const n = 1024;
  const a = engine.tensor([n, n], { data: Float32Array.from({ length: n * n }, (_, i) => (i % 7) - 3) }); // [n, n]
  const b = engine.tensor([n, n], { data: Float32Array.from({ length: n * n }, (_, i) => (i % 5) - 2) }); // [n, n]
  const mm = engine.graph({ name: "sgemm" });
  mm.build({ effects: [mm.linear(a, b)] }); // [n, n]
  return {
    flops: 2 * n ** 3,
    /** Seconds per sgemm, averaged over `reps` repetitions. */
    async seconds(reps: number): Promise<number> {
      const t = performance.now();
      for (let i = 0; i < reps; i++) await mm.compute();
      return (performance.now() - t) / 1000 / reps;
    },
    free() {
      mm.free();
      a.free();
      b.free();
    },
  };
}

type PeerStep = Awaited<ReturnType<TorchPeer["step"]>>;

/** PyTorch's figures from its timed steps, or why there are none. */
function torchSide(peer: TorchPeer | null, steps: PeerStep[], tokens: number, ourStepS: number): TorchSide {
  if (!peer) {
    return {
      available: false,
      reason: torchUnavailable() ?? "the peer did not start",
      openmp: openMpSettings(),
    };
  }
  const torchS = median(steps.map((s) => s.step_s));
  const peak = Math.max(0, ...steps.map((s) => s.peak_bytes));
  return {
    available: true,
    version: peer.info.torch,
    params: peer.info.params,
    trainable_params: peer.info.trainable,
    step_s: round(torchS),
    tokens_per_s: round(tokens / torchS),
    ratio: round(torchS / ourStepS),
    blas: peer.info.blas,
    reference_blas: peer.info.reference_blas,
    ...(peak > 0 ? { peak_bytes: peak } : {}),
    openmp: openMpSettings(),
  };
}

/** The built-in ~10M Llama, full fine-tuning, the whole step as one graph. */
function builtinStep(engine: Engine, opts: EngineBenchOptions): TrainingStep {
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
  const { batch: B, seq: T } = opts;
  const tokens = B * T;
  const { ids, pos, targets } = tokenBatch(engine, config, B, T);
  const weightsPerToken = engine.tensor([tokens], { data: new Float32Array(tokens).fill(1 / tokens) }); // [B*T]
  const g = engine.graph({ name: "train", capacity: 8192 });
  const { loss } = weightedNllLoss(g, config, weights, ids, pos, targets, weightsPerToken);
  g.build({ loss, outputs: [loss], backward: true });
  const opt = new AdamW(engine, params, ADAMW);
  return {
    name: `built-in llama (V ${config.vocabSize}, C ${config.hidden}, ${config.layers} layers, ${g.nodeCount()} graph nodes)`,
    params: countParameters(weights),
    trainable: countParameters(weights),
    async run() {
      const [l] = await g.compute();
      await opt.step();
      return l[0];
    },
    peer: { model: config, batch: B, seq: T, optimizer: ADAMW, dtype: "f32" },
    free() {
      g.free();
      for (const t of [ids, pos, weightsPerToken, ...params]) t.free();
    },
  };
}

/** A model folder: LoRA on its frozen base (or full fine-tuning), loss through chunkedTokenLoss. */
async function modelDirStep(engine: Engine, opts: EngineBenchOptions): Promise<TrainingStep> {
  const dir = opts.model as string;
  const rank = opts.loraRank ?? 16;
  const dtype = opts.dtype ?? "f32";
  if (rank === 0 && dtype !== "f32")
    throw new Error(`bench engine: full fine-tuning trains f32 weights, not ${dtype}`);
  const loaded = await loadModel(engine, dir, rank > 0 ? { dtype } : { trainable: true });
  const lora = { rank, alpha: 2 * rank, targets: ["q", "k", "v", "o", "gate", "up", "down"] as const };
  const weights =
    rank > 0 ? addLora(engine, loaded.weights, { ...lora, targets: [...lora.targets] }, 1) : loaded.weights;
  const trainable = trainableParameters(weights);
  const config = loaded.config;
  const { batch: B, seq: T } = opts;
  const N = B * T;
  const batch = tokenBatch(engine, config, B, T);
  const opt = new AdamW(engine, trainable, ADAMW);
  const count = (ts: Tensor[]) => ts.reduce((s, t) => s + t.shape.reduce((p, d) => p * d, 1), 0);
  return {
    name: `${dir} (${rank > 0 ? `LoRA rank ${rank}, base ${dtype}` : "full fine-tuning"})`,
    params: countParameters(loaded.weights),
    trainable: count(trainable),
    async run() {
      engine.zeroGrads(trainable);
      const r = await chunkedTokenLoss(
        engine,
        config,
        weights,
        { ids: batch.ids, positions: batch.pos, targets: batch.targets },
        (g, lp) => g.scale(g.sum(lp), -1 / N),
      );
      await opt.step();
      return r.loss;
    },
    peer: {
      model: config,
      batch: B,
      seq: T,
      ...(rank > 0 ? { lora: { ...lora, targets: [...lora.targets] } } : {}),
      optimizer: ADAMW,
      dtype: dtype === "f32" ? "f32" : "bf16",
    },
    free() {
      for (const t of new Set([batch.ids, batch.pos, ...llamaParameters(weights)])) t.free();
    },
  };
}

/** Deterministic token ids [B, T], positions [T] and next-token targets [B*T]. */
function tokenBatch(engine: Engine, config: LlamaConfig, B: number, T: number) {
  const V = config.vocabSize;
  const ids = engine.tensor([B, T], {
    dtype: "i32",
    data: Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % V),
  }); // [B, T]
  const pos = engine.tensor([T], { dtype: "i32", data: Int32Array.from({ length: T }, (_, i) => i) }); // [T]
  const targets = Int32Array.from({ length: B * T }, (_, i) => ((i + 1) * 7919) % V); // [B*T]
  return { ids, pos, targets };
}

/** Starts the PyTorch peer on the same step, or null (with the reason logged) when torch is missing. */
async function startTorch(
  step: TrainingStep,
  { threads, blas: hasBlas }: { threads: number; blas: boolean },
  opts: EngineBenchOptions,
): Promise<TorchPeer | null> {
  const missing = torchUnavailable();
  if (missing) {
    opts.log(`torch peer: ${missing}; reporting our side only`);
    return null;
  }
  // On a GPU, PyTorch runs on CUDA (ROCm builds call it "cuda" too), whatever ggml backend ours uses.
  const device =
    !opts.device || opts.device === "cpu" ? "cpu" : opts.device.startsWith("cuda:") ? opts.device : "cuda";
  const peer = await TorchPeer.start({ ...step.peer, threads, device });
  const p = peer.info;
  opts.log(
    `torch peer: PyTorch ${p.torch} on ${p.device}, ${p.threads} threads, ${(p.params / 1e6).toFixed(2)}M parameters ` +
      `(${(p.trainable / 1e6).toFixed(2)}M trained), ${p.attention}; OpenMP ${openMpSettings()}`,
  );
  opts.log(
    `BLAS: ours ${engineBlas(hasBlas)}, torch ${p.blas}${p.blas_libraries.length ? ` (${p.blas_libraries.join(", ")})` : ""}` +
      (p.reference_blas ? " -- the ratio below flatters us" : ""),
  );
  return peer;
}

/** The BLAS our engine multiplies with: the OpenBLAS file mapped into this process, or ggml's own kernels. */
export function engineBlas(hasBlas: boolean): string {
  if (!hasBlas) return "none (ggml's own kernels)";
  let maps = "";
  try {
    maps = readFileSync("/proc/self/maps", "utf8");
  } catch {
    return "OpenBLAS";
  }
  const file = maps
    .split("\n")
    .map((line) => line.split(/\s+/)[5] ?? "")
    .find((path) => /blas/.test(path));
  return file ? `OpenBLAS (${file})` : "OpenBLAS";
}

/** One line of the result for people (the JSON line follows it). */
export function describeEngineBench(r: EngineBenchResult): string {
  const ours = `training ${r.train_gflops} GFLOP/s (${r.tokens_per_s} tokens/s) vs sgemm ${r.sgemm_gflops} GFLOP/s (${r.sgemm_backend}): ratio ${r.ratio}`;
  if (!r.torch) return ours;
  if (!r.torch.available) return `${ours}; PyTorch not measured (${r.torch.reason})`;
  return (
    `${ours}; PyTorch ${r.torch.tokens_per_s} tokens/s (${r.torch.blas}): ours / PyTorch ${r.torch.ratio}` +
    (r.torch.reference_blas ? " (PyTorch on the reference BLAS: not a fair comparison)" : "")
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
