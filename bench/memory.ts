/**
 * `reasonrl bench memory`: the peak memory (and time) of one training loss
 * pass (forward and backward, LoRA over a frozen base) over rows of real
 * length, at the real shapes of the paper's 1.5B model or of Qwen2.5-0.5B,
 * with random weights made in memory (nothing is written to disk).
 *
 * Peak memory is the process's peak resident set (getrusage's maxrss): it
 * only grows, so run one configuration per process. The same figure before
 * the pass (weights and adapters loaded) is reported alongside.
 *
 * `reasonrl bench memory --model 1.5b --tokens 3584` (registered in src/cli/bench.ts).
 */
import { Engine, type Tensor } from "../src/engine/index.ts";
import { chunkedTokenLoss } from "../src/model/chunked-loss.ts";
import type { LayerWeights } from "../src/model/llama.ts";
import { addLora } from "../src/model/lora.ts";
import { seededRandom } from "../src/model/random.ts";
import { randomFrozenWeights } from "../src/model/random-weights.ts";
import { REAL_SHAPES } from "../src/model/real-shapes.ts";

export interface MemoryBenchOptions {
  model: keyof typeof REAL_SHAPES;
  /** Tokens per row. */
  tokens: number;
  rows: number;
  /** Storage of the frozen base's matrices. */
  dtype: "f32" | "f16" | "bf16";
  loraRank: number;
  /** Fewer layers than the model has (a quicker, partial measurement). */
  layers?: number;
  checkpoint: boolean;
  queryChunk: number;
  chunkRows: number;
  threads?: number;
  log?: (line: string) => void;
}

export interface MemoryBenchResult {
  bench: "memory";
  model: string;
  layers: number;
  rows: number;
  tokens: number;
  dtype: string;
  lora_rank: number;
  checkpoint: boolean;
  query_chunk: number;
  chunk_rows: number;
  /** Bytes of the frozen base and the adapters. */
  weights_bytes: number;
  /** Peak resident set once the weights were made, before the pass. */
  rss_before_pass_bytes: number;
  /** Peak resident set of the whole process, the pass included. */
  peak_rss_bytes: number;
  pass_s: number;
}

const GiB = 2 ** 30;
const peakRss = () => process.resourceUsage().maxRSS * 1024;

export async function benchMemory(o: MemoryBenchOptions): Promise<MemoryBenchResult> {
  const log = o.log ?? (() => {});
  const config = { ...REAL_SHAPES[o.model], layers: o.layers ?? REAL_SHAPES[o.model].layers };
  const engine = new Engine({ threads: o.threads });
  const base = randomFrozenWeights(engine, config, o.dtype);
  const weights = addLora(engine, base, { rank: o.loraRank, alpha: 2 * o.loraRank }, 1);
  const tensors = new Set<Tensor>([base.embed, base.lmHead, base.finalNorm]);
  for (const layer of weights.layers) {
    for (const t of layerTensors(layer)) tensors.add(t);
  }
  const weightsBytes = [...tensors].reduce((n, t) => n + t.size * bytesOf(t), 0);
  const before = peakRss();
  log(`weights ${(weightsBytes / GiB).toFixed(2)} GiB, peak RSS so far ${(before / GiB).toFixed(2)} GiB`);

  const { rows: B, tokens: T } = o;
  const rand = seededRandom(2);
  const ids = engine.tensor([B, T], {
    dtype: "i32",
    data: Int32Array.from({ length: B * T }, () => Math.floor(rand() * config.vocabSize)),
  });
  const positions = engine.tensor([T], { dtype: "i32", data: Int32Array.from({ length: T }, (_, i) => i) });
  const targets = Int32Array.from({ length: B * T }, () => Math.floor(rand() * config.vocabSize));
  const t0 = performance.now();
  await chunkedTokenLoss(
    engine,
    config,
    weights,
    { ids, positions, targets },
    (g, lp) => g.scale(g.sum(lp), -1 / (B * T)),
    { checkpoint: o.checkpoint, queryChunk: o.queryChunk, chunkRows: o.chunkRows },
  );
  const passS = (performance.now() - t0) / 1000;
  const peak = peakRss();
  log(`loss pass ${passS.toFixed(1)} s, peak RSS ${(peak / GiB).toFixed(2)} GiB`);
  return {
    bench: "memory",
    model: o.model,
    layers: config.layers,
    rows: B,
    tokens: T,
    dtype: o.dtype,
    lora_rank: o.loraRank,
    checkpoint: o.checkpoint,
    query_chunk: o.queryChunk,
    chunk_rows: o.chunkRows,
    weights_bytes: weightsBytes,
    rss_before_pass_bytes: before,
    peak_rss_bytes: peak,
    pass_s: passS,
  };
}

/** One sentence for people. */
export function describeMemoryBench(r: MemoryBenchResult): string {
  return (
    `${r.model} (${r.layers} layers, ${r.dtype} base, LoRA rank ${r.lora_rank}), ${r.rows} x ${r.tokens} tokens, ` +
    `checkpointing ${r.checkpoint ? "on" : "off"}: peak RSS ${(r.peak_rss_bytes / GiB).toFixed(2)} GiB ` +
    `(weights ${(r.weights_bytes / GiB).toFixed(2)} GiB), loss pass ${r.pass_s.toFixed(1)} s`
  );
}

function bytesOf(t: Tensor): number {
  return t.dtype === "f16" || t.dtype === "bf16" ? 2 : 4;
}

function layerTensors({ lora, ...tensors }: LayerWeights): Tensor[] {
  return [...Object.values(tensors), ...Object.values(lora ?? {}).flatMap((ad) => [ad.a, ad.b])];
}
