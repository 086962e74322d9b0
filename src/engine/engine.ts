/**
 * The engine: ggml backends (a GPU device when asked for one; the CPU, plus
 * OpenBLAS for matrix products when the build has it), persistent tensors,
 * graphs, and a queue that runs one graph at a time off the JS main thread.
 *
 * On a GPU device every persistent tensor (weights, gradient accumulators,
 * optimizer state, KV cache) lives in device memory; ggml's scheduler runs each
 * op on the device and falls back to the CPU for ops the device lacks
 * (REASONRL_PROFILE=1 lists them with their time). Host reads and writes copy.
 */
import { availableParallelism } from "node:os";
import { z } from "zod";
import { resolveDevice } from "./devices.ts";
import { type DType, GGML_TYPE, Q8_0_BLOCK } from "./dtype.ts";
import { Graph, type GraphOptions } from "./graph.ts";
import { type Handle, loadAddon, type NativeAddon } from "./native.ts";
import { Tensor, type TensorHost } from "./tensor.ts";

export const EngineOptions = z.object({
  /** Compute threads for ggml and OpenBLAS. Default: the machine's cores. */
  threads: z.number().int().min(1).max(1024).optional(),
  /** Largest graph (nodes + leaves) the scheduler accepts. A 24-layer forward+backward needs ~3,000. */
  maxNodes: z.number().int().min(64).default(65536),
  /** Use the OpenBLAS backend for matrix products when the addon was built with it (CPU engines). */
  blas: z.boolean().default(true),
  /**
   * Where to compute: "cpu" (default), "vulkan[:N]", "cuda[:N]", "metal", or "auto"
   * (the first GPU, else the CPU). `reasonrl devices` lists what this machine offers.
   */
  device: z.string().default("cpu"),
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
  /** The device computing this engine's graphs, resolved: "cpu", "vulkan:0", "cuda:1", ... */
  readonly device: string;
  #threads: number;
  #queue: Promise<unknown> = Promise.resolve();
  #computing = 0;
  #lossSeed: Tensor | null = null;
  #disposed = false;

  constructor(options: EngineOptions = {}) {
    const opts = EngineOptions.parse(options);
    this.native = loadAddon();
    const device = resolveDevice(opts.device, this.native);
    this.device = device.name;
    this.#threads = opts.threads ?? availableParallelism();
    this.maxNodes = opts.maxNodes;
    this.handle = this.native.createBackends(
      this.#threads,
      opts.maxNodes,
      opts.blas && this.native.hasBlas,
      device.registryIndex,
    );
  }

  /** Backends in use (the device's first), thread count and graph size limit. */
  info(): { threads: number; blas: boolean; maxNodes: number; backends: string[] } {
    this.assertUsable("read info of");
    return this.native.backendInfo(this.handle);
  }

  /** True once dispose() ran: every tensor and graph of this engine is unusable. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** @internal throws once the engine is disposed. */
  assertUsable(what: string): void {
    if (this.#disposed) {
      throw new Error(`reasonrl engine: cannot ${what} the engine on ${this.device}: it was disposed`);
    }
  }

  /**
   * Frees the backends and every tensor of this engine (a zero-copy view keeps its
   * memory until collected). Waits for a running graph; graphs queued after it fail.
   * Idempotent; any later use of the engine, its tensors or graphs throws.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.native.dispose(this.handle);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Waits for every queued graph, then disposes. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#queue;
    this.dispose();
  }

  get threads(): number {
    return this.#threads;
  }

  /** Sets the compute thread count (ggml and OpenBLAS). */
  setThreads(threads: number): void {
    this.assertUsable("set threads of");
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
    this.assertUsable("create a graph on");
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
    this.assertUsable("create a tensor on");
    checkShape(shape, options.name ?? kind);
    const name = options.name ?? "";
    if (dtype === "q8_0" && shape[shape.length - 1] % Q8_0_BLOCK !== 0) {
      throw new Error(
        `reasonrl engine: ${name || kind}: q8_0 stores rows in blocks of ${Q8_0_BLOCK}; ` +
          `the last dim of [${shape.join(", ")}] is not a multiple of ${Q8_0_BLOCK}`,
      );
    }
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
