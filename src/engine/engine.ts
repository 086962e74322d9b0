/**
 * The engine: ggml backends (CPU, plus OpenBLAS for matrix products when the
 * build has it), persistent tensors, graphs, and a queue that runs one graph
 * at a time off the JS main thread.
 */
import { availableParallelism } from "node:os";
import { z } from "zod";
import { type DType, GGML_TYPE } from "./dtype.ts";
import { Graph, type GraphOptions } from "./graph.ts";
import { type Handle, loadAddon, type NativeAddon } from "./native.ts";
import { Tensor, type TensorHost } from "./tensor.ts";

export const EngineOptions = z.object({
  /** Compute threads for ggml and OpenBLAS. Default: the machine's cores. */
  threads: z.number().int().min(1).max(1024).optional(),
  /** Largest graph (nodes + leaves) the scheduler accepts. A 24-layer forward+backward needs ~3,000. */
  maxNodes: z.number().int().min(64).default(65536),
  /** Use the OpenBLAS backend for matrix products when the addon was built with it. */
  blas: z.boolean().default(true),
});
export type EngineOptions = z.input<typeof EngineOptions>;

/** Options of a persistent tensor. */
export interface TensorOptions {
  dtype?: DType;
  name?: string;
  /** Initial values (see Tensor.write); zeros when omitted. */
  data?: Float32Array | Int32Array | Uint8Array | readonly number[];
}

export const MAX_DIMS = 4;

export class Engine implements TensorHost {
  readonly native: NativeAddon;
  /** @internal */
  readonly handle: Handle;
  readonly maxNodes: number;
  #threads: number;
  #queue: Promise<unknown> = Promise.resolve();
  #computing = 0;
  #lossSeed: Tensor | null = null;

  constructor(options: EngineOptions = {}) {
    const opts = EngineOptions.parse(options);
    this.native = loadAddon();
    this.#threads = opts.threads ?? availableParallelism();
    this.maxNodes = opts.maxNodes;
    this.handle = this.native.createBackends(this.#threads, opts.maxNodes, opts.blas && this.native.hasBlas);
  }

  /** Backends in use, thread count and graph size limit. */
  info(): { threads: number; blas: boolean; maxNodes: number; backends: string[] } {
    return this.native.backendInfo(this.handle);
  }

  get threads(): number {
    return this.#threads;
  }

  /** Sets the compute thread count (ggml and OpenBLAS). */
  setThreads(threads: number): void {
    if (!Number.isInteger(threads) || threads < 1) {
      throw new Error(`reasonrl engine: threads must be a positive integer, got ${threads}`);
    }
    this.#threads = threads;
    this.native.setThreads(this.handle, threads);
  }

  /** True while a graph is queued or computing (persistent tensors must not be written then). */
  get computing(): boolean {
    return this.#computing > 0;
  }

  /** A trainable f32 parameter with a gradient accumulator (`.grad`). */
  param(shape: readonly number[], options: Omit<TensorOptions, "dtype"> = {}): Tensor {
    const t = this.#create("param", shape, "f32", options);
    t.grad = this.#create("input", shape, "f32", { name: `grad of ${t.name}` });
    return t;
  }

  /** A persistent tensor that is not trained: an input, a constant or a frozen weight. */
  tensor(shape: readonly number[], options: TensorOptions = {}): Tensor {
    return this.#create("input", shape, options.dtype ?? "f32", options);
  }

  /** A new graph; build it with its op methods, then build() and compute(). */
  graph(options: GraphOptions = {}): Graph {
    return new Graph(this, options);
  }

  /** Zeroes the gradient accumulators of the given parameters. */
  zeroGrads(params: Iterable<Tensor>): void {
    for (const p of params) if (!p.freed) p.grad?.zero();
  }

  /** @internal the scalar 1 that seeds backward passes. */
  lossSeed(): Tensor {
    if (!this.#lossSeed) this.#lossSeed = this.tensor([1], { name: "loss seed", data: [1] });
    return this.#lossSeed;
  }

  /** @internal runs `fn` after every earlier compute finished; the engine is busy from now until it ends. */
  enqueue<T>(fn: () => Promise<T>): Promise<T> {
    this.#computing++;
    const run = async () => {
      try {
        return await fn();
      } finally {
        this.#computing--;
      }
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #create(kind: "param" | "input", shape: readonly number[], dtype: DType, options: TensorOptions): Tensor {
    checkShape(shape, options.name ?? kind);
    const name = options.name ?? "";
    const ne = [...shape].reverse();
    while (ne.length < MAX_DIMS) ne.push(1);
    const [owner, handle] = this.native.createTensor(
      this.handle,
      GGML_TYPE[dtype],
      ne,
      name,
      kind === "param",
    );
    const t = new Tensor(this, kind, [...shape], dtype, name, handle, owner, null);
    if (options.data !== undefined) t.write(options.data);
    return t;
  }
}

/** Throws unless `shape` has 1-4 positive integer dims. */
export function checkShape(shape: readonly number[], what: string): void {
  if (shape.length < 1 || shape.length > MAX_DIMS || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(
      `reasonrl engine: ${what}: shape [${shape.join(", ")}] must have 1-4 positive integer dims`,
    );
  }
}
