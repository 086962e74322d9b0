/**
 * The trunk (embedding, decoder layers, final norm) with per-layer activation
 * checkpointing: the memory of a training pass is one layer's graph, not the
 * whole model's.
 *
 *   forward:  one small graph per layer, no gradients; only each layer's
 *             input x_l [B, T, C] is kept (on the host), plus the last
 *             layer's output x_L.
 *   backward: from the gradient dL/dh of the final hidden states, walk the
 *             layers backwards. Each step is a graph that recomputes one
 *             layer from its stored input (a parameter, so it gets a
 *             gradient) and backpropagates the seed sum(out * g_out): the
 *             layer's weights (or LoRA adapters) get their gradients added,
 *             and the input's gradient is g_out of the layer below.
 *
 * Each layer runs its attention over query chunks (chunked-block.ts), so no
 * [H, T, T] score matrix exists either. The forward pass is computed twice,
 * as with a single trunk graph recomputed for backward (chunked-loss.ts).
 */
import type { Engine, Graph, Tensor } from "../engine/index.ts";
import { chunkedBlock, DEFAULT_QUERY_CHUNK } from "./chunked-block.ts";
import { type LlamaConfig, type LlamaWeights, rmsNorm } from "./llama.ts";

export interface TrunkInput {
  ids: Tensor; // i32 [B, T]
  positions: Tensor; // i32 [T]
}

export interface TrunkOptions {
  /** Most tensors of one graph, backward included (default: what one layer's graph needs). */
  capacity?: number;
  /** Queries per attention chunk (default 512). */
  queryChunk?: number;
}

export interface ForwardOptions extends TrunkOptions {
  /** Keep every layer's input for trunkBackward (default true); false keeps only the last. */
  keepLayerInputs?: boolean;
}

const EMPTY = new Float32Array(0);

/** What the forward pass keeps for the backward pass. */
export interface TrunkActivations {
  /** Input of each layer, then the last layer's output: layers + 1 arrays of [B*T*C] (empty when not kept). */
  layerInputs: Float32Array[];
  /** The final hidden states (after the final norm), [B*T*C]. */
  hidden: Float32Array;
}

/** The forward pass without gradients, one graph per layer. */
export async function trunkForward(
  engine: Engine,
  c: LlamaConfig,
  w: LlamaWeights,
  input: TrunkInput,
  options: ForwardOptions = {},
): Promise<TrunkActivations> {
  const [B, T] = input.ids.shape;
  const shape = [B, T, c.hidden];
  const capacity = graphCapacity(engine, T, options);
  const layerInputs = [
    (await run(engine, "embedding", capacity, (g) => [g.embedding(w.embed, input.ids)]))[0], // [B, T, C]
  ];
  for (const [i, layer] of w.layers.entries()) {
    const x = engine.tensor(shape, { name: `layer ${i} input`, data: layerInputs[i] }); // [B, T, C]
    try {
      const chunks = await run(engine, `layer ${i} forward`, capacity, (g) =>
        chunkedBlock(g, c, layer, x, input.positions, options.queryChunk).map((ch) => ch.out),
      );
      layerInputs.push(joinChunks(chunks, B, T, c.hidden));
      if (options.keepLayerInputs === false) layerInputs[i] = EMPTY;
    } finally {
      x.free();
    }
  }
  const last = engine.tensor(shape, { name: "last layer output", data: layerInputs[w.layers.length] });
  try {
    const [hidden] = await run(engine, "final norm", capacity, (g) => [
      rmsNorm(g, last, w.finalNorm, c.rmsEps),
    ]);
    return { layerInputs, hidden };
  } finally {
    last.free();
  }
}

/**
 * The backward pass from dL/dh [B*T*C] (h the final hidden states): adds
 * the gradients of every parameter the trunk uses into its `.grad`. It
 * consumes `activations`: each layer's stored input is dropped once used,
 * so host memory shrinks as the pass walks down.
 */
export async function trunkBackward(
  engine: Engine,
  c: LlamaConfig,
  w: LlamaWeights,
  input: TrunkInput,
  activations: TrunkActivations,
  dh: Float32Array,
  options: TrunkOptions = {},
): Promise<void> {
  const [B, T] = input.ids.shape;
  const capacity = graphCapacity(engine, T, options);
  const queryChunk = options.queryChunk ?? DEFAULT_QUERY_CHUNK;
  const { layerInputs } = activations;
  const L = w.layers.length;
  const step = (name: string, x: Float32Array, gOut: Float32Array, f: ChunkedFunction) =>
    layerBackward(engine, { name, capacity, x, gOut, B, T }, f);
  // through the final norm: grad = dL/dx_L
  let grad = await step("final norm backward", layerInputs[L], dh, (g, x) => [
    { start: 0, length: T, out: rmsNorm(g, x, w.finalNorm, c.rmsEps) },
  ]);
  for (let i = L - 1; i >= 0; i--) {
    const layer = w.layers[i];
    grad = await step(`layer ${i} backward`, layerInputs[i], grad, (g, x) =>
      chunkedBlock(g, c, layer, x, input.positions, queryChunk),
    );
    layerInputs[i + 1] = EMPTY;
  }
  layerInputs[0] = EMPTY;
  if (w.embed.kind !== "param") return; // a frozen embedding needs no gradient
  const seed = engine.tensor([B, T, c.hidden], { name: "dL/dx_0", data: grad });
  const g = engine.graph({ name: "embedding backward", capacity });
  try {
    const e = g.embedding(w.embed, input.ids); // [B, T, C]
    g.build({ loss: g.sum(g.mul(e, seed)), backward: true });
    await g.compute();
  } finally {
    g.free();
    seed.free();
  }
}

/** A function of x [B, T, C] whose output is given as row chunks along T. */
type ChunkedFunction = (g: Graph, x: Tensor) => Array<{ start: number; length: number; out: Tensor }>;

/** One step back: where x's values and its output's gradient are, and the graph's name and size. */
interface BackwardStep {
  name: string;
  capacity: number;
  x: Float32Array; // [B*T*C]
  gOut: Float32Array; // [B*T*C]
  B: number;
  T: number;
}

/**
 * Recomputes f(x) and backpropagates sum(f(x) * gOut): f's parameters get
 * their gradients; returns the gradient of x, [B*T*C].
 */
async function layerBackward(engine: Engine, step: BackwardStep, f: ChunkedFunction): Promise<Float32Array> {
  const { name, capacity, gOut, B, T } = step;
  const C = step.x.length / (B * T);
  const x = engine.param([B, T, C], { name: `${name} input`, data: step.x }); // [B, T, C]
  const seed = engine.tensor([B, T, C], { name: `${name} seed`, data: gOut }); // [B, T, C]
  const g = engine.graph({ name, capacity });
  try {
    let loss: Tensor | undefined;
    for (const { start, length, out } of f(g, x)) {
      const s = length === T ? seed : g.narrow(seed, 1, start, length); // [B, n, C]
      const part = g.sum(g.mul(out, s)); // [1]
      loss = loss ? g.add(loss, part) : part;
    }
    g.build({ loss: loss as Tensor, backward: true });
    await g.compute();
    return (x.grad as Tensor).readF32();
  } finally {
    g.free();
    x.free();
    seed.free();
  }
}

/**
 * Tensors of one layer's graph with backward: measured ~20 + 100 per query
 * chunk forward (LoRA, biases and q/k norms included), times the backward's
 * expansion of 4, rounded up. Small graphs are quicker to make than the
 * engine's largest.
 */
function graphCapacity(engine: Engine, T: number, options: TrunkOptions): number {
  if (options.capacity !== undefined) return options.capacity;
  const chunks = Math.ceil(T / (options.queryChunk ?? DEFAULT_QUERY_CHUNK));
  return Math.min(engine.maxNodes, 4 * (64 + 128 * chunks));
}

/** Computes a graph without gradients; resolves to its outputs' values. */
async function run(
  engine: Engine,
  name: string,
  capacity: number,
  outputs: (g: Graph) => Tensor[],
): Promise<Float32Array[]> {
  const g = engine.graph({ name, capacity });
  try {
    g.build({ outputs: outputs(g) });
    return (await g.compute()) as Float32Array[];
  } finally {
    g.free();
  }
}

/** Chunks [B, n_i, C] (in order along T) side by side: [B, T, C]. */
function joinChunks(chunks: Float32Array[], B: number, T: number, C: number): Float32Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Float32Array(B * T * C);
  let start = 0;
  for (const chunk of chunks) {
    const n = chunk.length / (B * C);
    for (let b = 0; b < B; b++) {
      out.set(chunk.subarray(b * n * C, (b + 1) * n * C), (b * T + start) * C);
    }
    start += n;
  }
  return out;
}
