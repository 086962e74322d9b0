/**
 * Per-token losses over a batch without ever holding N x V logits (N tokens,
 * V vocabulary: 151,936 for Qwen, so a GRPO batch of 50k tokens would need 30 GB).
 *
 *   1. the trunk's forward pass gives the final hidden states h [N, C];
 *   2. row chunks of h go through the output projection, log-softmax and the
 *      caller's per-token loss, each with its own backward pass, giving dL/dh
 *      for the chunk (and the output projection's gradient);
 *   3. the trunk's forward pass runs again with backward, seeded with dL/dh
 *      through the loss sum(h * dL/dh).
 *
 * The trunk's forward pass is computed twice; only `chunkRows * V` logits exist
 * at a time. Gradients accumulate into the parameters' `.grad` as usual.
 *
 * Large batches checkpoint the trunk per layer (checkpointed-trunk.ts): one
 * layer's graph at a time, attention over query chunks, so a pass over one
 * 4k-token row needs a few GiB rather than tens. Small ones (where that would
 * save less than CHECKPOINT_SAVING_BYTES, memory-plan.ts) build the whole trunk
 * as one graph (every layer's [H, T, T] attention kept for backward), which is
 * faster. `checkpoint: true | false` forces either.
 *
 * `temperature` divides the logits before the log-softmax (TRL >= 0.16 computes
 * GRPO's log-probs at the sampling temperature); at 1 the graph is unchanged.
 */
import type { Engine, Graph, Tensor } from "../engine/index.ts";
import { trunkBackward, trunkForward } from "./checkpointed-trunk.ts";
import { hiddenStates, type LlamaConfig, type LlamaWeights } from "./llama.ts";
import { checkpointPays } from "./memory-plan.ts";

export interface TokenBatch {
  ids: Tensor; // i32 [B, T]
  positions: Tensor; // i32 [T]
  /** The token each position predicts, B*T of them. */
  targets: Int32Array;
}

/**
 * The caller's loss for the tokens [start, start + lp.size) of the batch,
 * given their log-probs lp [n] (with gradient): a scalar. Summed over chunks.
 */
export type TokenLoss = (g: Graph, logProbs: Tensor, start: number) => Tensor;

export interface ChunkedLossResult {
  /** The total loss (sum over chunks). */
  loss: number;
  /** Log-prob of each target, [B*T]. */
  logProbs: Float32Array;
  /** Entropy of each position's next-token distribution [B*T], when asked for. */
  entropy?: Float32Array;
}

export interface ChunkedLossOptions {
  /** Rows of the output projection computed at a time (chunkRows x V logits). */
  chunkRows?: number;
  /** Most tensors of one graph, backward included. */
  capacity?: number;
  /** Also return each position's entropy. */
  entropy?: boolean;
  /**
   * Per-layer activation checkpointing of the trunk. "auto" (default): when it
   * saves more than CHECKPOINT_SAVING_BYTES (memory-plan.ts), i.e. for long rows
   * or large batches, not for small ones.
   */
  checkpoint?: boolean | "auto";
  /** Queries per attention chunk when checkpointing (default 512). */
  queryChunk?: number;
  /** Log-probs (and entropies) of softmax(logits / temperature); default 1 (no division). */
  temperature?: number;
}

/** Forward and backward of `tokenLoss` over the batch, chunked over rows. */
export async function chunkedTokenLoss(
  engine: Engine,
  c: LlamaConfig,
  w: LlamaWeights,
  batch: TokenBatch,
  tokenLoss: TokenLoss,
  options: ChunkedLossOptions = {},
): Promise<ChunkedLossResult> {
  const { chunkRows = 1024, capacity = 16384, entropy = false, queryChunk } = options;
  const temperature = checkedTemperature(options.temperature);
  const [B, T] = batch.ids.shape;
  const checkpoint = checkpointing(c, B, T, options);
  const N = B * T;
  const C = c.hidden;
  if (batch.targets.length !== N)
    throw new Error(`chunkedTokenLoss: ${batch.targets.length} targets for ${N} tokens`);

  // 1. hidden states [N, C] (and, checkpointing, each layer's input)
  const trunk = { capacity: options.capacity, queryChunk }; // per-layer graphs size themselves
  const acts = checkpoint ? await trunkForward(engine, c, w, batch, trunk) : undefined;
  const h = acts ? acts.hidden : await finalHidden(engine, c, w, batch, capacity);

  // 2. output projection, log-probs and loss per chunk; dL/dh collected in `dh`
  const dhValues = new Float32Array(N * C);
  const logProbs = new Float32Array(N);
  const entropies = entropy ? new Float32Array(N) : undefined;
  let loss = 0;
  for (let start = 0; start < N; start += chunkRows) {
    const n = Math.min(chunkRows, N - start);
    const rows = engine.param([n, C], { name: "hidden rows", data: h.subarray(start * C, (start + n) * C) });
    const g = engine.graph({ name: "output chunk", capacity });
    try {
      const logits = atTemperature(g, g.linear(rows, w.lmHead), temperature); // [n, V]
      const lp = g.logProbsOf(logits, batch.targets.subarray(start, start + n)); // [n]
      const chunkLoss = tokenLoss(g, lp, start);
      const outputs = [chunkLoss, lp, ...(entropies ? [g.entropy(logits)] : [])];
      g.build({ outputs, loss: chunkLoss, backward: true });
      const [l, lpValues, entValues] = await g.compute();
      loss += l[0];
      logProbs.set(lpValues, start);
      entropies?.set(entValues, start);
      dhValues.set((rows.grad as Tensor).readF32(), start * C);
    } finally {
      g.free();
      rows.free();
    }
  }

  // 3. the trunk again, with backward from sum(h * dL/dh)
  if (acts) await trunkBackward(engine, c, w, batch, acts, dhValues, trunk);
  else await wholeTrunkBackward(engine, c, w, batch, dhValues, capacity);
  return { loss, logProbs, entropy: entropies };
}

/** Step 3 as one graph: the whole trunk's forward and backward at once. */
async function wholeTrunkBackward(
  engine: Engine,
  c: LlamaConfig,
  w: LlamaWeights,
  batch: TokenBatch,
  dhValues: Float32Array,
  capacity: number,
): Promise<void> {
  const [B, T] = batch.ids.shape;
  const [N, C] = [B * T, c.hidden];
  const dh = engine.tensor([N, C], { name: "dL/dh", data: dhValues });
  const back = engine.graph({ name: "trunk backward", capacity });
  try {
    const hb = back.reshape(hiddenStates(back, c, w, batch.ids, batch.positions), [N, C]);
    back.build({ loss: back.sum(back.mul(hb, dh)), backward: true });
    await back.compute();
  } finally {
    back.free();
    dh.free();
  }
}

/** Log-prob of each target [B*T] without gradients (old-policy and reference scores), chunked the same way. */
export async function tokenLogProbs(
  engine: Engine,
  c: LlamaConfig,
  w: LlamaWeights,
  batch: TokenBatch,
  options: Omit<ChunkedLossOptions, "entropy"> = {},
): Promise<Float32Array> {
  const { chunkRows = 1024, capacity = 16384, queryChunk } = options;
  const temperature = checkedTemperature(options.temperature);
  const [B, T] = batch.ids.shape;
  const checkpoint = checkpointing(c, B, T, options);
  const N = B * T;
  const h = checkpoint
    ? (
        await trunkForward(engine, c, w, batch, {
          capacity: options.capacity,
          queryChunk,
          keepLayerInputs: false,
        })
      ).hidden
    : await finalHidden(engine, c, w, batch, capacity);
  const out = new Float32Array(N);
  for (let start = 0; start < N; start += chunkRows) {
    const n = Math.min(chunkRows, N - start);
    const rows = engine.tensor([n, c.hidden], { data: h.subarray(start * c.hidden, (start + n) * c.hidden) });
    const g = engine.graph({ name: "output chunk", capacity });
    try {
      const logits = atTemperature(g, g.linear(rows, w.lmHead), temperature); // [n, V]
      const lp = g.logProbsOf(logits, batch.targets.subarray(start, start + n)); // [n]
      g.build({ outputs: [lp] });
      const [values] = await g.compute();
      out.set(values, start);
    } finally {
      g.free();
      rows.free();
    }
  }
  return out;
}

/** The trunk's final hidden states of the batch, [B*T * C] on the host. */
async function finalHidden(
  engine: Engine,
  c: LlamaConfig,
  w: LlamaWeights,
  batch: TokenBatch,
  capacity: number,
): Promise<Float32Array> {
  const [B, T] = batch.ids.shape;
  const g = engine.graph({ name: "trunk forward", capacity });
  try {
    g.build({ outputs: [g.reshape(hiddenStates(g, c, w, batch.ids, batch.positions), [B * T, c.hidden])] });
    const [h] = await g.compute();
    return h as Float32Array;
  } finally {
    g.free();
  }
}

/** The temperature option, checked: a finite number > 0 (default 1). */
function checkedTemperature(temperature = 1): number {
  if (!(temperature > 0) || !Number.isFinite(temperature))
    throw new Error(`chunked loss: temperature must be a finite number > 0, got ${temperature}`);
  return temperature;
}

/** logits / temperature [n, V]; the logits themselves at temperature 1 (the graph unchanged). */
function atTemperature(g: Graph, logits: Tensor, temperature: number): Tensor {
  return temperature === 1 ? logits : g.scale(logits, 1 / temperature);
}

/** Whether a [B, T] batch's trunk is checkpointed per layer (options.checkpoint, "auto" by default). */
function checkpointing(c: LlamaConfig, B: number, T: number, options: ChunkedLossOptions): boolean {
  const { checkpoint = "auto", chunkRows, queryChunk } = options;
  if (checkpoint !== "auto") return checkpoint;
  return checkpointPays(c, { rows: B, tokens: T, chunkRows, queryChunk });
}
