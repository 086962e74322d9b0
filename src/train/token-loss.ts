/**
 * Per-token losses and log-probs of a padded batch, from host arrays: the one
 * place where a training batch becomes device tensors (token ids [B, T],
 * positions [T], and each per-token input [B*T]) and where they are freed,
 * also when a pass throws. The SFT and GRPO steps build their losses on it;
 * the work itself is src/model/chunked-loss.ts (the vocabulary projection in
 * row chunks, never all B*T x V logits at once).
 */
import type { Engine, Graph, Tensor } from "../engine/index.ts";
import {
  type ChunkedLossResult,
  chunkedTokenLoss,
  type TokenBatch,
  tokenLogProbs,
} from "../model/chunked-loss.ts";
import type { LlamaConfig, LlamaWeights } from "../model/llama.ts";
import type { PaddedBatch } from "./token-batch.ts";

/** The model a pass runs: the engine, the architecture and the weights (the policy or a frozen reference). */
export interface PassModel {
  engine: Engine;
  config: LlamaConfig;
  weights: LlamaWeights;
}

/**
 * The loss of a chunk of n tokens given their log-probs lp [n] (with gradient)
 * and the chunk's slice [n] of each per-token input: a scalar. Summed over chunks.
 */
export type ChunkLoss<K extends string> = (g: Graph, lp: Tensor, inputs: Record<K, Tensor>) => Tensor;

export interface TokenPassOptions {
  /** Rows of the vocabulary projection computed at once. */
  chunkRows: number;
  /** Also return each position's entropy (at `temperature`). */
  entropy?: boolean;
  /** Log-probs of softmax(logits / temperature) (TRL >= 0.16's GRPO); default 1, the logits as they are. */
  temperature?: number;
}

/**
 * Forward and backward of `loss` over the batch: the gradient is added to the
 * trainable weights' accumulators. `inputs` are per-token arrays [B*T]
 * (e.g. from atCompletionTokens). Returns the loss, each target's log-prob
 * [B*T] and, when asked, each position's entropy [B*T].
 */
export async function tokenLossPass<K extends string>(
  m: PassModel,
  batch: PaddedBatch,
  inputs: Record<K, Float32Array>,
  loss: ChunkLoss<K>,
  options: TokenPassOptions,
): Promise<ChunkedLossResult> {
  const N = batch.rows * batch.positions;
  const device = new DeviceTensors(m.engine);
  try {
    const tokens = device.tokens(batch);
    const onDevice = Object.entries<Float32Array>(inputs).map(([name, data]) => {
      if (data.length !== N)
        throw new Error(`token loss: input "${name}" has ${data.length} values for ${N} positions`);
      return [name, device.f32(data)] as const; // [N]
    });
    return await chunkedTokenLoss(
      m.engine,
      m.config,
      m.weights,
      tokens,
      (g, lp, start) => {
        const slices = Object.fromEntries(
          onDevice.map(([name, t]) => [name, g.narrow(t, 0, start, lp.size)]),
        );
        return loss(g, lp, slices as Record<K, Tensor>); // each [n] of [N]
      },
      { chunkRows: options.chunkRows, entropy: options.entropy ?? false, temperature: options.temperature },
    );
  } finally {
    device.free();
  }
}

/** Each target's log-prob [B*T] under `m`, without gradients (GRPO's old and reference log-probs). */
export async function batchLogProbs(
  m: PassModel,
  batch: PaddedBatch,
  options: Pick<TokenPassOptions, "chunkRows" | "temperature">,
): Promise<Float32Array> {
  const device = new DeviceTensors(m.engine);
  try {
    return await tokenLogProbs(m.engine, m.config, m.weights, device.tokens(batch), options);
  } finally {
    device.free();
  }
}

/** Device copies of one pass's host arrays, freed together. */
class DeviceTensors {
  readonly #made: Tensor[] = [];
  constructor(readonly engine: Engine) {}

  /** The batch's token ids [B, T] and positions [T] on the device, its targets on the host. */
  tokens(batch: PaddedBatch): TokenBatch {
    const T = batch.positions;
    const positions = Int32Array.from({ length: T }, (_, i) => i);
    return {
      ids: this.#keep(this.engine.tensor([batch.rows, T], { data: batch.ids, dtype: "i32" })),
      positions: this.#keep(this.engine.tensor([T], { data: positions, dtype: "i32" })),
      targets: batch.targets,
    };
  }

  /** An f32 vector [n] holding `data`. */
  f32(data: Float32Array): Tensor {
    return this.#keep(this.engine.tensor([data.length], { data }));
  }

  free(): void {
    for (const t of this.#made) t.free();
  }

  #keep(t: Tensor): Tensor {
    this.#made.push(t);
    return t;
  }
}
