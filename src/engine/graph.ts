/**
 * A compute graph: build it with the op methods (ops.ts), mark its outputs
 * and optional scalar loss with build(), then compute() it any number of
 * times. With `backward: true`, every parameter used gets its gradient added
 * into its `.grad` accumulator on each compute (so micro-batches accumulate
 * until the optimizer zeroes them).
 *
 * Outputs are copied to host memory as soon as a compute finishes, before
 * any other graph can reuse the compute buffers.
 */
import { type DType, dtypeFromGgml } from "./dtype.ts";
import type { Engine } from "./engine.ts";
import type { Handle } from "./native.ts";
import { Ops } from "./ops-nn.ts";
import { Tensor } from "./tensor.ts";

export interface GraphOptions {
  /** Most tensors the graph may hold, backward included (default 16384, at most the engine's maxNodes). */
  capacity?: number;
  /** Name used in error messages. */
  name?: string;
}

export interface BuildOptions {
  /** Tensors whose values compute() returns, in this order. */
  outputs?: Tensor[];
  /** A scalar f32 loss ([1]); required for backward. */
  loss?: Tensor;
  /** Add the backward pass: gradients of the loss into each used parameter's `.grad`. */
  backward?: boolean;
  /** Nodes computed only for their in-place effect (e.g. adamwUpdate); nothing is returned for them. */
  effects?: Tensor[];
}

/** How many tensors a backward pass may add per forward tensor (measured: ~2.3 on a Llama block). */
const BACKWARD_EXPANSION = 4;

/** Ops whose output passes no gradient back (piecewise constant, or an optimizer update). */
const NO_GRADIENT = new Set(["step", "argmax", "adamw", "setRows"]);

/** Ops that write into a persistent tensor; ggml's backward cannot go through them. */
const IN_PLACE = new Set(["adamw", "setRows"]);

let graphCounter = 0;

export class Graph extends Ops {
  readonly capacity: number;
  readonly label: string;
  readonly #engine: Engine;
  readonly #handle: Handle;
  #tensors = 0;
  #freed = false;
  #built = false;
  /** Holds an in-place update (adamwUpdate, setRows), which ggml's backward cannot handle. */
  #inPlace = false;
  /** Holds a matrix product large enough for the BLAS backend (all dims >= 32, as ggml-blas requires). */
  #largeProducts = false;
  /** A bf16 node on a gradient path (ggml computes gradients in f32 and f16 only). */
  #bf16Grad: string | null = null;
  #outputs: Tensor[] = [];
  /** Persistent tensors this graph reads or writes; checked alive before each compute. */
  readonly #leaves = new Set<Tensor>();
  /** Persistent index tensors and the bound their values must stay under. */
  readonly #indexChecks: Array<{ ids: Tensor; limit: number; what: string }> = [];
  /** Constants created for this graph (freed with it). */
  readonly #constants: Tensor[] = [];

  constructor(engine: Engine, options: GraphOptions = {}) {
    super();
    this.#engine = engine;
    this.label = options.name ?? `#${++graphCounter}`;
    this.capacity = options.capacity ?? Math.min(16384, engine.maxNodes);
    if (!Number.isInteger(this.capacity) || this.capacity < 16 || this.capacity > engine.maxNodes) {
      throw new Error(
        `reasonrl engine: graph capacity ${this.capacity} must be an integer in [16, ${engine.maxNodes}] (the engine's maxNodes)`,
      );
    }
    this.#handle = engine.native.newGraph(engine.handle, this.capacity);
  }

  get freed(): boolean {
    return this.#freed;
  }

  /** Tensors created so far in this graph (forward ops). */
  get tensorCount(): number {
    return this.#tensors;
  }

  /** Nodes of the built graph (forward, plus backward when requested). */
  nodeCount(): number {
    this.#assertUsable("count nodes of");
    return this.#engine.native.nodeCount(this.#handle);
  }

  /** Fixes outputs, loss and backward. A graph is built once. */
  build(options: BuildOptions): this {
    this.#assertUsable("build");
    if (this.#built) throw new Error(`reasonrl engine: graph ${this.label} was already built`);
    const outputs = options.outputs ?? [];
    const { loss, effects = [] } = options;
    if (outputs.length === 0 && !loss && effects.length === 0) {
      throw new Error(`reasonrl engine: graph ${this.label}: nothing to compute`);
    }
    for (const t of [...outputs, ...effects, ...(loss ? [loss] : [])]) this.#own(t, "build");
    if (loss && (loss.dtype !== "f32" || loss.size !== 1)) {
      throw new Error(
        `reasonrl engine: graph ${this.label}: the loss must be an f32 scalar, got ${loss.describe()}`,
      );
    }
    const params = options.backward ? this.#checkBackward(loss) : [];
    const native = this.#engine.native;
    // Small graphs (decoding a token) run faster without the BLAS backend in the scheduler.
    native.useBlas(this.#handle, this.#largeProducts);
    native.buildForward(
      this.#handle,
      outputs.map((t) => t.handle),
      loss ? loss.handle : null,
      effects.map((t) => t.handle),
    );
    if (params.length > 0) {
      const seed = this.#engine.lossSeed();
      native.buildBackward(
        this.#handle,
        params.map((p) => p.handle),
        params.map((p) => (p.grad as Tensor).handle),
        seed.handle,
      );
      for (const p of params) this.#leaves.add(p.grad as Tensor);
      this.#leaves.add(seed);
    }
    this.#outputs = outputs;
    this.#built = true;
    return this;
  }

  /**
   * Runs the graph on the engine's backends, off the main thread, after any
   * compute already queued. Resolves to the outputs' values, in build() order.
   */
  async compute(): Promise<Array<Float32Array | Int32Array>> {
    this.#assertUsable("compute");
    if (!this.#built) throw new Error(`reasonrl engine: graph ${this.label}: call build() before compute()`);
    for (const t of this.#leaves) t.assertAlive(`compute graph ${this.label} with`);
    for (const { ids, limit, what } of this.#indexChecks) {
      const values = ids.read();
      for (let i = 0; i < values.length; i++) {
        if (!(values[i] >= 0 && values[i] < limit)) {
          throw new Error(
            `reasonrl engine: graph ${this.label}: ${ids.describe()}[${i}] = ${values[i]} is outside [0, ${limit}) (${what})`,
          );
        }
      }
    }
    const buffers = await this.#engine.enqueue(() => {
      this.#assertUsable("compute");
      return this.#engine.native.compute(this.#handle, this);
    });
    return buffers.map((b, i) =>
      this.#outputs[i].dtype === "i32" ? new Int32Array(b) : new Float32Array(b),
    );
  }

  /** Releases the graph's memory; its nodes can no longer be used. Idempotent. */
  free(): void {
    if (this.#freed) return;
    if (this.#engine.computing && !this.#engine.disposed) {
      throw new Error(
        `reasonrl engine: cannot free graph ${this.label} while a graph is computing; await it first`,
      );
    }
    this.#engine.native.freeGraph(this.#handle);
    for (const c of this.#constants) c.free();
    this.#freed = true;
  }

  protected node(
    op: string,
    srcs: Tensor[],
    ints: number[] = [],
    floats: number[] = [],
    rank?: number,
  ): Tensor {
    this.#assertUsable(`add ${op} to`);
    if (this.#built)
      throw new Error(`reasonrl engine: graph ${this.label} is built; ops can no longer be added`);
    for (const s of srcs) this.#own(s, op);
    if (this.#tensors >= this.capacity) {
      throw new Error(
        `reasonrl engine: graph ${this.label} is full (${this.capacity} tensors): pass a larger capacity`,
      );
    }
    const [handle, type, ...rest] = this.#engine.native.op(
      this.#handle,
      op,
      srcs.map((s) => s.handle),
      ints,
      floats,
    );
    this.#tensors++;
    const ne = rest.slice(0, 4);
    let r = rank ?? Math.max(...srcs.map((s) => s.shape.length));
    while (r < 4 && ne.slice(r).some((d) => d !== 1)) r++;
    const shape = ne.slice(0, r).reverse();
    const t = new Tensor(this.#engine, "node", shape, dtypeFromGgml(type), op, handle, null, this);
    t.layout = (["contiguous", "strided", "transposed"] as const)[rest[4]];
    t.requiresGrad = !NO_GRADIENT.has(op) && t.dtype !== "i32" && srcs.some((s) => s.requiresGrad);
    if (IN_PLACE.has(op)) this.#inPlace = true;
    if (op === "mulMat" && ne[0] >= 32 && ne[1] >= 32 && srcs[1].ne()[0] >= 32) this.#largeProducts = true;
    if (t.dtype === "bf16" && t.requiresGrad) this.#bf16Grad = t.describe();
    return t;
  }

  protected checkIndices(ids: Tensor, limit: number, what: string): void {
    this.#indexChecks.push({ ids, limit, what });
  }

  protected onGpu(): boolean {
    return this.#engine.device !== "cpu";
  }

  protected constant(shape: number[], dtype: DType, data: Float32Array | Int32Array): Tensor {
    const t = this.#engine.tensor(shape, { dtype, data, name: `constant of graph ${this.label}` });
    this.#constants.push(t);
    this.#leaves.add(t);
    return t;
  }

  /** The parameters a backward pass will reach; throws if it cannot be built. */
  #checkBackward(loss: Tensor | undefined): Tensor[] {
    if (!loss) throw new Error(`reasonrl engine: graph ${this.label}: backward needs a loss`);
    if (this.#inPlace)
      throw new Error(`reasonrl engine: graph ${this.label}: backward through an in-place update`);
    if (this.#bf16Grad) {
      throw new Error(
        `reasonrl engine: graph ${this.label}: backward through bf16 node ${this.#bf16Grad}; cast to f16 or f32 instead`,
      );
    }
    const params = [...this.#leaves].filter((t) => t.kind === "param");
    if (params.length === 0)
      throw new Error(`reasonrl engine: graph ${this.label}: backward but no parameter is used`);
    if (this.#tensors * BACKWARD_EXPANSION > this.capacity) {
      throw new Error(
        `reasonrl engine: graph ${this.label} has ${this.#tensors} forward tensors; with backward it needs ` +
          `capacity >= ${this.#tensors * BACKWARD_EXPANSION} (have ${this.capacity}): pass a larger capacity`,
      );
    }
    return params;
  }

  /** Checks `t` may be used here: alive, and a node of this graph or a persistent tensor. */
  #own(t: Tensor, op: string): void {
    t.assertAlive(`use in ${op}`);
    if (t.kind === "node") {
      if (t.lifetime !== this) {
        throw new Error(
          `reasonrl engine: ${op}: ${t.describe()} belongs to graph ${t.lifetime?.label}, not ${this.label}`,
        );
      }
    } else {
      if (t.host !== this.#engine)
        throw new Error(`reasonrl engine: ${op}: ${t.describe()} belongs to another engine`);
      this.#leaves.add(t);
    }
  }

  #assertUsable(what: string): void {
    this.#engine.assertUsable(`${what} graph ${this.label} of`);
    if (this.#freed) throw new Error(`reasonrl engine: cannot ${what} graph ${this.label}: it was freed`);
  }
}
