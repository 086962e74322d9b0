/**
 * AdamW (Loshchilov & Hutter; bias-corrected moments, decoupled weight decay),
 * with global-norm gradient clipping, as torch.optim.AdamW + clip_grad_norm_.
 *
 * Gradients accumulate in each parameter's `.grad` over any number of
 * backward passes (micro-batches); step() reads them, updates the weights in
 * place on the engine and zeroes them. A non-finite gradient norm skips the
 * update and leaves the weights untouched.
 */
import { z } from "zod";
import type { Engine } from "./engine.ts";
import type { Graph } from "./graph.ts";
import type { Tensor } from "./tensor.ts";

export const AdamWOptions = z.object({
  /** Learning rate of step() calls that do not pass their own. */
  lr: z.number().nonnegative().default(1e-3),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  eps: z.number().positive().default(1e-8),
  /** Decoupled weight decay, applied to parameters with 2+ dims (not to norms and biases, as HF Trainer). */
  weightDecay: z.number().nonnegative().default(0),
  /** Clip the global L2 norm of all gradients to this value (0 or absent: no clipping). */
  maxGradNorm: z.number().nonnegative().optional(),
});
export type AdamWOptions = z.input<typeof AdamWOptions>;

export interface StepResult {
  /** Global L2 norm of the gradients before clipping. */
  gradNorm: number;
  /** True when the norm was not finite and the update was skipped. */
  skipped: boolean;
  /** Learning rate used. */
  lr: number;
}

/** Serializable optimizer state, for checkpoints. */
export interface AdamWState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

export class AdamW {
  readonly options: z.output<typeof AdamWOptions>;
  /** Number of updates applied so far (t in the bias corrections). */
  stepCount = 0;
  readonly #engine: Engine;
  readonly #params: Tensor[];
  readonly #m: Tensor[];
  readonly #v: Tensor[];
  /** [lr, beta1, beta2, eps, wd, 1/(1-beta1^t), 1/(1-beta2^t)] for decayed and non-decayed groups. */
  readonly #hyper: { decay: Tensor; plain: Tensor };
  /** Gradient multiplier for clipping, [1]. */
  readonly #clipScale: Tensor;
  #normGraph: Graph | null = null;
  #stepGraph: Graph | null = null;

  constructor(engine: Engine, params: Tensor[], options: AdamWOptions = {}) {
    this.options = AdamWOptions.parse(options);
    this.#engine = engine;
    for (const p of params) {
      if (p.kind !== "param" || !p.grad)
        throw new Error(`reasonrl AdamW: ${p.describe()} is not a trainable parameter`);
    }
    if (params.length === 0) throw new Error("reasonrl AdamW: no parameters to optimize");
    this.#params = params;
    this.#m = params.map((p) => engine.tensor(p.shape, { name: `adam m of ${p.name}` }));
    this.#v = params.map((p) => engine.tensor(p.shape, { name: `adam v of ${p.name}` }));
    this.#hyper = {
      decay: engine.tensor([7], { name: "adamw hyper" }),
      plain: engine.tensor([7], { name: "adamw hyper" }),
    };
    this.#clipScale = engine.tensor([1], { name: "clip scale", data: [1] });
  }

  /** The parameters this optimizer updates, in order. */
  get parameters(): readonly Tensor[] {
    return this.#params;
  }

  /** Global L2 norm of the accumulated gradients. */
  async gradNorm(): Promise<number> {
    if (!this.#normGraph) {
      const g = this.#engine.graph({ name: "grad norm", capacity: 16 + 4 * this.#params.length });
      let total: Tensor | null = null;
      for (const p of this.#params) {
        const s = g.sum(g.sqr(p.grad as Tensor));
        total = total ? g.add(total, s) : s;
      }
      this.#normGraph = g.build({ outputs: [total as Tensor] });
    }
    const [sq] = await this.#normGraph.compute();
    return Math.sqrt(sq[0]);
  }

  /** Applies one update from the accumulated gradients, then zeroes them. */
  async step(opts: { lr?: number } = {}): Promise<StepResult> {
    const lr = opts.lr ?? this.options.lr;
    if (!(lr >= 0) || !Number.isFinite(lr))
      throw new Error(`reasonrl AdamW: learning rate must be finite and >= 0, got ${lr}`);
    const gradNorm = await this.gradNorm();
    if (!Number.isFinite(gradNorm)) {
      this.zeroGrad();
      return { gradNorm, skipped: true, lr };
    }
    const { beta1, beta2, eps, weightDecay, maxGradNorm } = this.options;
    const t = this.stepCount + 1;
    const corr1 = 1 / (1 - beta1 ** t);
    const corr2 = 1 / (1 - beta2 ** t);
    this.#hyper.decay.write([lr, beta1, beta2, eps, weightDecay, corr1, corr2]);
    this.#hyper.plain.write([lr, beta1, beta2, eps, 0, corr1, corr2]);
    // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is < 1.
    const clip = maxGradNorm ? Math.min(1, maxGradNorm / (gradNorm + 1e-6)) : 1;
    this.#clipScale.write([clip]);
    await this.#buildStepGraph().compute();
    this.stepCount = t;
    this.zeroGrad();
    return { gradNorm, skipped: false, lr };
  }

  /** Zeroes the parameters' gradient accumulators. */
  zeroGrad(): void {
    this.#engine.zeroGrads(this.#params);
  }

  /** A copy of the moments and step count. */
  state(): AdamWState {
    return { step: this.stepCount, m: this.#m.map((t) => t.readF32()), v: this.#v.map((t) => t.readF32()) };
  }

  /** The first and second moments, one tensor each per parameter (checkpoints stream them one at a time). */
  get moments(): { m: readonly Tensor[]; v: readonly Tensor[] } {
    return { m: this.#m, v: this.#v };
  }

  /** Restores a state() taken from an optimizer over the same parameter shapes. */
  loadState(state: AdamWState): void {
    if (state.m.length !== this.#params.length || state.v.length !== this.#params.length) {
      throw new Error(
        `reasonrl AdamW: state has ${state.m.length} moments, optimizer has ${this.#params.length} parameters`,
      );
    }
    for (const [i, m] of state.m.entries()) this.#m[i].write(m);
    for (const [i, v] of state.v.entries()) this.#v[i].write(v);
    this.stepCount = state.step;
  }

  /** Frees the optimizer's moments and graphs. */
  free(): void {
    this.#normGraph?.free();
    this.#stepGraph?.free();
    for (const t of [...this.#m, ...this.#v, this.#hyper.decay, this.#hyper.plain, this.#clipScale]) t.free();
  }

  #buildStepGraph(): Graph {
    if (this.#stepGraph) return this.#stepGraph;
    const g = this.#engine.graph({ name: "adamw step", capacity: 16 + 3 * this.#params.length });
    const updates = this.#params.map((p, i) => {
      const grad = g.mul(p.grad as Tensor, this.#clipScale);
      const hyper = p.shape.length >= 2 ? this.#hyper.decay : this.#hyper.plain;
      return g.adamwUpdate(p, grad, this.#m[i], this.#v[i], hyper);
    });
    this.#stepGraph = g.build({ effects: updates });
    return this.#stepGraph;
  }
}
