/**
 * A short measured probe of a model's speed on an engine's device: one
 * decoder layer and the output projection at the model's real shapes
 * (random frozen weights, LoRA adapters or trained f32 weights as the run
 * has them), timed in the graphs training and decoding use. The plan
 * (src/rl/plan.ts) scales these times to a whole step.
 *
 * Each graph runs once to warm up and once timed.
 */
import type { Engine, Graph, Tensor } from "../engine/index.ts";
import { chunkedBlock } from "./chunked-block.ts";
import { headDim, type LlamaConfig, type LoraTarget, trainableParameters } from "./llama.ts";
import { addLora } from "./lora.ts";
import { randomFrozenWeights } from "./random-weights.ts";

export interface ProbeOptions {
  /** Storage of the frozen matrices (q8_0 is probed as f16: same bytes per product within ~2x). */
  dtype: "f32" | "f16" | "bf16" | "q8_0";
  /** LoRA adapters, or null for full fine-tuning (trained f32 weights). */
  lora: { rank: number; targets: LoraTarget[] } | null;
  /** Tokens of the training probe (default 128). */
  tokens?: number;
  /** Sequences decoded together in the decoding probe (default 8). */
  decodeRows?: number;
}

/** Seconds of each probed graph. */
export interface ProbeTimes {
  /** Tokens of the training graphs (one row). */
  tokens: number;
  /** One layer's forward pass over `tokens` tokens, no gradients. */
  layerForward: number;
  /** One layer's forward and backward pass over `tokens` tokens. */
  layerTrain: number;
  /** Output projection and log-probs of `tokens` rows, no gradients. */
  headForward: number;
  /** The same with backward. */
  headTrain: number;
  /** Sequences decoded together. */
  decodeRows: number;
  /** One layer's forward pass of one new token of each decoded sequence (cache reads not included). */
  decodeLayer: number;
  /** The output projection of one token of each decoded sequence. */
  decodeHead: number;
}

/** Times one layer and the output projection of model `c` on `engine`. */
export async function probeModel(engine: Engine, c: LlamaConfig, o: ProbeOptions): Promise<ProbeTimes> {
  const T = o.tokens ?? 128;
  const S = o.decodeRows ?? 8;
  const C = c.hidden;
  // one layer, and the output matrix as a tied embedding (one [V, C] matrix)
  const shape = { ...c, layers: 1, tieEmbeddings: true };
  const base = randomFrozenWeights(engine, shape, o.dtype === "q8_0" ? "f16" : o.dtype);
  let weights = base;
  if (o.lora) {
    weights = addLora(engine, base, { rank: o.lora.rank, alpha: 2 * o.lora.rank, targets: o.lora.targets });
  } else {
    // full fine-tuning: the layer's tensors as trained f32 parameters
    const layer = Object.fromEntries(
      Object.entries(base.layers[0]).map(([k, t]) => [
        k,
        engine.param(t.shape, { data: (t as Tensor).readF32() }),
      ]),
    );
    weights = { ...base, layers: [layer as unknown as (typeof base.layers)[0]] };
  }
  const made = [
    ...new Set([
      ...Object.values(base.layers[0]),
      base.embed,
      base.finalNorm,
      ...trainableParameters(weights),
    ]),
  ];
  const layer = weights.layers[0];
  const positions = engine.tensor([T], { dtype: "i32", data: Int32Array.from({ length: T }, (_, i) => i) });
  const x = engine.param([1, T, C], { data: filledRandom(T * C) }); // [1, T, C]
  const rows = engine.param([T, C], { data: filledRandom(T * C) }); // [T, C]
  const targets = Int32Array.from({ length: T }, (_, i) => (i * 7919) % c.vocabSize);
  const one = engine.tensor([1], { dtype: "i32", data: [T] });
  const xs = engine.tensor([S, 1, C], { data: filledRandom(S * C) }); // [S, 1, C]
  const hs = engine.tensor([S, C], { data: filledRandom(S * C) }); // [S, C]
  try {
    const layerOut = (g: Graph, input: Tensor, pos: Tensor) =>
      chunkedBlock(g, c, layer, input, pos).map((ch) => g.sum(ch.out));
    const sumAll = (g: Graph, parts: Tensor[]) => parts.reduce((a, b) => g.add(a, b));
    const headLoss = (g: Graph, h: Tensor) => g.sum(g.logProbsOf(g.linear(h, weights.lmHead), targets));
    return {
      tokens: T,
      layerForward: await timed(engine, (g) => ({ outputs: [sumAll(g, layerOut(g, x, positions))] })),
      layerTrain: await timed(engine, (g) => ({
        loss: sumAll(g, layerOut(g, x, positions)),
        backward: true,
      })),
      headForward: await timed(engine, (g) => ({ outputs: [headLoss(g, rows)] })),
      headTrain: await timed(engine, (g) => ({ loss: headLoss(g, rows), backward: true })),
      decodeRows: S,
      decodeLayer: await timed(engine, (g) => ({ outputs: [sumAll(g, layerOut(g, xs, one))] })),
      decodeHead: await timed(engine, (g) => ({ outputs: [g.sum(g.linear(hs, weights.lmHead))] })),
    };
  } finally {
    for (const t of [...made, positions, x, rows, one, xs, hs]) t.free();
  }
}

/** Seconds of the second compute of the graph `build` makes (the first warms up). */
async function timed(
  engine: Engine,
  build: (g: Graph) => { outputs?: Tensor[]; loss?: Tensor; backward?: boolean },
): Promise<number> {
  const g = engine.graph({ name: "probe" });
  try {
    g.build(build(g));
    await g.compute();
    const t0 = performance.now();
    await g.compute();
    return (performance.now() - t0) / 1000;
  } finally {
    g.free();
  }
}

/** Values in [-0.5, 0.5) from a fixed sequence (the probe's inputs; only their size matters). */
function filledRandom(n: number): Float32Array {
  const out = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** Forward FLOPs of one layer over one row of T tokens: the projections and the causal attention. */
export function layerFlops(c: LlamaConfig, T: number): number {
  const { hidden: C, ffn: F, heads: H, kvHeads: Hkv } = c;
  const D = headDim(c);
  const projections = 2 * (2 * H * D * C + 2 * Hkv * D * C + 3 * F * C);
  return T * projections + 2 * T * T * H * D; // QK^T and AV over the causal half, 2 FLOPs each
}
