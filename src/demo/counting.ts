/**
 * The built-in demo (`npm start`): trains a small Llama-style model from
 * scratch on the engine, on this machine's CPU, to continue counting
 * sequences (7, 8, 9, ... modulo the vocabulary), and reports the loss and
 * next-token accuracy as it learns. Nothing is downloaded.
 */
import { AdamW, Engine, type Tensor } from "../engine/index.ts";
import {
  initLlamaWeights,
  llamaParameters,
  logits,
  parseLlamaConfig,
  weightedNllLoss,
} from "../model/llama.ts";

export interface DemoOptions {
  steps: number;
  seed: number;
  log: (line: string) => void;
}

export interface DemoResult {
  demo: "counting";
  steps: number;
  parameters: number;
  first_loss: number;
  final_loss: number;
  accuracy: number;
  seconds: number;
}

const VOCAB = 64;
const SEQ = 16;
const BATCH = 16;

/** A batch of counting sequences from random starts: ids [B, T] and next-token targets. */
function countingBatch(rand: () => number): { ids: Int32Array; targets: Int32Array } {
  const ids = new Int32Array(BATCH * SEQ);
  const targets = new Int32Array(BATCH * SEQ);
  for (let b = 0; b < BATCH; b++) {
    const start = Math.floor(rand() * VOCAB);
    for (let t = 0; t < SEQ; t++) {
      ids[b * SEQ + t] = (start + t) % VOCAB;
      targets[b * SEQ + t] = (start + t + 1) % VOCAB;
    }
  }
  return { ids, targets };
}

export async function runCountingDemo(opts: DemoOptions): Promise<DemoResult> {
  const started = performance.now();
  const engine = new Engine();
  const config = parseLlamaConfig({
    vocabSize: VOCAB,
    hidden: 64,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    ffn: 128,
  });
  const weights = initLlamaWeights(engine, config, opts.seed);
  const params = llamaParameters(weights);
  const nParams = params.reduce((n, p) => n + p.size, 0);
  opts.log(
    `training a ${(nParams / 1e3).toFixed(0)}K-parameter Llama to count, on ${engine.info().backends.join(" + ")}`,
  );

  const ids = engine.tensor([BATCH, SEQ], { dtype: "i32" });
  const pos = engine.tensor([SEQ], { dtype: "i32", data: Int32Array.from({ length: SEQ }, (_, i) => i) });
  const tokenWeights = engine.tensor([BATCH * SEQ], {
    data: new Float32Array(BATCH * SEQ).fill(1 / (BATCH * SEQ)),
  });
  const opt = new AdamW(engine, params, { lr: 3e-3, weightDecay: 0.01, maxGradNorm: 1 });
  let state = opts.seed + 1;
  const rand = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };

  let firstLoss = Number.NaN;
  let loss = Number.NaN;
  for (let step = 1; step <= opts.steps; step++) {
    const batch = countingBatch(rand);
    ids.write(batch.ids);
    // The targets are baked into this step's graph, so it is rebuilt per batch.
    const g = engine.graph({ capacity: 4096 });
    const out = weightedNllLoss(g, config, weights, ids, pos, batch.targets, tokenWeights);
    g.build({ loss: out.loss, outputs: [out.loss], backward: true });
    [[loss]] = await g.compute();
    g.free();
    if (step === 1) firstLoss = loss;
    const lr = 3e-3 * Math.min(1, step / 10); // linear warm-up
    await opt.step({ lr });
    if (step % 10 === 0 || step === 1) opts.log(`step ${String(step).padStart(3)}  loss ${loss.toFixed(4)}`);
  }

  const accuracy = await evaluate(engine, config, weights, ids, pos, rand);
  opts.log(`next-token accuracy on fresh sequences: ${(accuracy * 100).toFixed(1)}%`);
  return {
    demo: "counting",
    steps: opts.steps,
    parameters: nParams,
    first_loss: firstLoss,
    final_loss: loss,
    accuracy,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Greedy next-token accuracy on a fresh batch, skipping each sequence's first position. */
async function evaluate(
  engine: Engine,
  config: ReturnType<typeof parseLlamaConfig>,
  weights: ReturnType<typeof initLlamaWeights>,
  ids: Tensor,
  pos: Tensor,
  rand: () => number,
): Promise<number> {
  const batch = countingBatch(rand);
  ids.write(batch.ids);
  const g = engine.graph({ capacity: 4096 });
  const predicted = g.argmax(g.reshape(logits(g, config, weights, ids, pos), [BATCH * SEQ, VOCAB]));
  g.build({ outputs: [predicted] });
  const [pred] = await g.compute();
  g.free();
  let right = 0;
  let total = 0;
  for (let i = 0; i < pred.length; i++) {
    if (i % SEQ === 0) continue;
    total++;
    if (pred[i] === batch.targets[i]) right++;
  }
  return right / total;
}
