/**
 * Builds and runs random graphs (forward + backward) mixing every op, shapes,
 * views and broadcasts; misuse must throw, never abort. Run by fuzz.test.ts
 * in a child process so an abort shows up as a failed test with the trail below.
 * Usage: node --import tsx test/engine/fuzz-child.ts SEED COUNT
 */
import { Engine, type Graph, type Tensor } from "../../src/engine/index.ts";
import { rng, uniform } from "./helpers.ts";

const seed = Number(process.argv[2] ?? 1);
const count = Number(process.argv[3] ?? 100);
const rand = rng(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const e = new Engine({ threads: 2, blas: rand() < 0.7 });

type Step = (g: Graph, x: Tensor) => Tensor;
const last = (x: Tensor) => x.shape[x.shape.length - 1];
const like = (x: Tensor, lo = -1, hi = 1) => e.tensor([...x.shape], { data: uniform(rand, x.size, lo, hi) });
const paramLike = (shape: number[]) =>
  e.param(shape, {
    data: uniform(
      rand,
      shape.reduce((a, b) => a * b, 1),
    ),
  });

const steps: Record<string, Step> = {
  exp: (g, x) => g.exp(g.scale(x, 0.1)),
  log: (g, x) => g.log(g.scale(g.sqr(x), 1, 0.5)),
  sqrt: (g, x) => g.sqrt(g.scale(g.sqr(x), 1, 0.1)),
  silu: (g, x) => g.silu(x),
  neg: (g, x) => g.neg(x),
  relu: (g, x) => g.relu(x),
  clamp: (g, x) => g.clamp(x, -0.5, 0.5),
  minimum: (g, x) => g.minimum(x, like(x)),
  add: (g, x) => g.add(x, like(x)),
  mulRow: (g, x) => g.mul(x, e.param([last(x)], { data: uniform(rand, last(x)) })),
  div: (g, x) => g.div(x, like(x, 0.5, 2)),
  swiglu: (g, x) => g.swiglu(x, like(x)),
  sumRows: (g, x) => g.sumRows(x),
  meanRows: (g, x) => g.meanRows(x),
  softmax: (g, x) => g.softmax(x, { scale: 0.5 }),
  logSoftmax: (g, x) => g.logSoftmax(x),
  rmsNorm: (g, x) => g.rmsNorm(x, 1e-5),
  transpose: (g, x) => (x.shape.length >= 2 ? g.transpose(x) : x),
  permute: (g, x) => {
    const perm = x.shape.map((_, i) => i).sort(() => rand() - 0.5);
    return g.permute(x, perm);
  },
  narrow: (g, x) => {
    const d = int(0, x.shape.length - 1);
    const len = int(1, x.shape[d]);
    return g.narrow(x, d, int(0, x.shape[d] - len), len);
  },
  flatten: (g, x) => g.reshape(x, [x.size]),
  linear: (g, x) => g.linear(x, paramLike([int(1, 5), last(x)])),
  linearBatched: (g, x) => {
    if (x.shape.length < 3) return x;
    const w = [...x.shape];
    w[w.length - 2] = int(1, 4);
    if (rand() < 0.5) w[w.length - 3] = 1; // broadcast weight heads
    return g.linear(x, paramLike(w));
  },
  causal: (g, x) => (x.shape.length >= 2 ? g.causalMask(x) : x),
  cast: (g, x) => g.cast(g.cast(x, pick(["f16", "bf16"] as const)), "f32"),
};
const names = Object.keys(steps);

let trail: string[] = [];

let thrown = 0;
for (let i = 0; i < count; i++) {
  const shape = Array.from({ length: int(1, 4) }, () => int(1, 5));
  const g = e.graph({ capacity: 2048 });
  let x: Tensor = paramLike(shape);
  trail = [`param [${shape}]`];
  try {
    for (let k = int(1, 6); k > 0; k--) {
      const name = pick(names);
      trail.push(name);
      process.stderr.write(`fuzz seed ${seed} graph ${i}: ${trail.join(" -> ")}\n`);
      x = steps[name](g, x);
      trail.push(`[${x.shape}]`);
    }
    // Written before each op and before compute, so what aborted (if anything) is the last line.
    process.stderr.write(`fuzz seed ${seed} graph ${i}: ${trail.join(" -> ")} -> backward\n`);
    const loss = g.sum(g.mul(x, like(x)));
    g.build({ loss, outputs: [loss, x], backward: true });
    const [l] = await g.compute();
    if (Number.isNaN(l[0]) && !trail.includes("causal")) throw new Error(`NaN loss: ${trail.join(" -> ")}`);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith("reasonrl")) throw err;
    thrown++; // a checked misuse: fine
    if (process.env.FUZZ_SHOW) console.log(err.message);
  } finally {
    g.free();
  }
}
console.log(`fuzz seed ${seed}: ${count} graphs, ${thrown} refused with a thrown error`);
