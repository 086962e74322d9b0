/**
 * Tensors. Shapes are written outermost first, as in PyTorch: a batch of
 * token embeddings is [B, T, C]; a Linear weight is [out, in]. At most 4 dims.
 * (ggml stores them innermost first; `ne()` does the reversal in one place.)
 *
 * A tensor is either persistent (a parameter, input or constant that lives
 * across graphs, with host data in and out) or a node of one graph.
 */
import { type DType, storageBytes } from "./dtype.ts";
import type { Handle, NativeAddon } from "./native.ts";

export type TensorKind = "param" | "input" | "node";

/** What a tensor needs from its engine: the addon, its handle, whether a graph is computing or it was disposed. */
export interface TensorHost {
  readonly native: NativeAddon;
  readonly handle: Handle;
  readonly computing: boolean;
  readonly disposed: boolean;
  readonly device: string;
}

/** Something that can be freed and checked for it (an engine-owned tensor or a graph). */
export interface Lifetime {
  readonly freed: boolean;
  readonly label: string;
}

export class Tensor {
  /** Number of elements. */
  readonly size: number;
  /** @internal the ggml tensor. */
  readonly handle: Handle;
  /** @internal keeps a persistent tensor's memory alive (null for graph nodes). */
  owner: Handle | null;
  /** Gradient accumulator of a parameter (f32, same shape), summed over backward passes. */
  grad: Tensor | null = null;
  /** True for parameters and for nodes computed from them (a gradient can flow back). */
  requiresGrad: boolean;
  /**
   * Memory layout: persistent tensors and most nodes are contiguous; views may
   * be strided, or "transposed" (a row's elements are not adjacent in memory).
   */
  layout: "contiguous" | "strided" | "transposed" = "contiguous";
  /** Known to be in host memory (a view() moved it there). */
  #inHostMemory = false;

  constructor(
    readonly host: TensorHost,
    readonly kind: TensorKind,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly name: string,
    handle: Handle,
    owner: Handle | null,
    /** The graph that owns a node tensor (null for persistent tensors). */
    readonly lifetime: Lifetime | null,
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
    this.requiresGrad = kind === "param";
    this.handle = handle;
    this.owner = owner;
  }

  /** ggml's ne[0..3]: the shape reversed and padded with 1s. */
  ne(): [number, number, number, number] {
    const r = [...this.shape].reverse();
    while (r.length < 4) r.push(1);
    return r as [number, number, number, number];
  }

  get freed(): boolean {
    return this.lifetime ? this.lifetime.freed : this.owner === null;
  }

  /** A short description used in error messages, e.g. `wq [256, 256] f32`. */
  describe(): string {
    return `${this.name || this.kind} [${this.shape.join(", ")}] ${this.dtype}`;
  }

  /** Throws unless this tensor is usable (not freed, its engine not disposed). */
  assertAlive(what = "use"): void {
    if (this.host.disposed) {
      throw new Error(
        `reasonrl engine: cannot ${what} tensor ${this.describe()}: its engine (${this.host.device}) was disposed`,
      );
    }
    if (this.freed) {
      const where = this.lifetime ? ` (its graph ${this.lifetime.label} was freed)` : "";
      throw new Error(`reasonrl engine: cannot ${what} tensor ${this.describe()}: it was freed${where}`);
    }
  }

  private assertHostAccess(what: string): void {
    this.assertAlive(what);
    if (this.kind === "node") {
      throw new Error(
        `reasonrl engine: cannot ${what} graph node ${this.describe()} directly; ` +
          "mark it as an output of build() and read the values compute() returns",
      );
    }
    if (what === "write" && this.host.computing) {
      throw new Error(
        `reasonrl engine: cannot write ${this.describe()} while a graph is computing; await it first`,
      );
    }
  }

  /**
   * Writes host data. f32/f16/bf16/q8_0 tensors take a Float32Array (converted to the
   * storage type, quantized for q8_0); i32 tensors an Int32Array; any tensor takes its
   * raw bytes (ggml's layout) as a Uint8Array.
   */
  write(data: Float32Array | Int32Array | Uint8Array | readonly number[]): this {
    this.assertHostAccess("write");
    if (Array.isArray(data)) {
      data = this.dtype === "i32" ? Int32Array.from(data) : Float32Array.from(data);
    }
    if (data instanceof Uint8Array) {
      const want = storageBytes(this.dtype, this.size);
      if (data.byteLength !== want) {
        throw new Error(`reasonrl engine: ${this.describe()} needs ${want} bytes, got ${data.byteLength}`);
      }
      this.host.native.writeBytes(this.handle, data, 0);
      return this;
    }
    if (data.length !== this.size) {
      throw new Error(
        `reasonrl engine: ${this.describe()} has ${this.size} elements, got ${data.length} values`,
      );
    }
    if (this.dtype === "i32") {
      if (!(data instanceof Int32Array))
        throw new Error(`reasonrl engine: ${this.describe()} needs an Int32Array`);
      this.host.native.writeBytes(
        this.handle,
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        0,
      );
    } else {
      if (!(data instanceof Float32Array)) {
        throw new Error(`reasonrl engine: ${this.describe()} needs a Float32Array, got an Int32Array`);
      }
      this.host.native.writeF32(this.handle, data);
    }
    return this;
  }

  /** Reads a copy of the data: Float32Array (converted from f16/bf16/q8_0) or Int32Array for i32. */
  read(): Float32Array | Int32Array {
    this.assertHostAccess("read");
    if (this.dtype === "i32") return new Int32Array(this.host.native.readBytes(this.handle));
    return this.host.native.readF32(this.handle);
  }

  /** Reads an f32 tensor (or converts f16/bf16) as a Float32Array copy. */
  readF32(): Float32Array {
    const r = this.read();
    if (!(r instanceof Float32Array))
      throw new Error(`reasonrl engine: ${this.describe()} is not a float tensor`);
    return r;
  }

  /**
   * A zero-copy view of an f32 or i32 tensor's memory. On a GPU engine the tensor
   * is first moved to host memory, once, and from then on crosses to the device at
   * each compute (as an input does): use views for inputs written from JS, and
   * read()/write() for weights and state that should stay on the device.
   * The view keeps the memory alive even after free(). Do not write through it
   * while a graph is computing.
   */
  view(): Float32Array | Int32Array {
    this.assertHostAccess("view");
    if (this.dtype !== "f32" && this.dtype !== "i32") {
      throw new Error(
        `reasonrl engine: view() needs an f32 or i32 tensor, ${this.describe()} is ${this.dtype}`,
      );
    }
    if (!this.#inHostMemory && this.host.device !== "cpu" && this.host.computing) {
      throw new Error(
        `reasonrl engine: cannot move ${this.describe()} to host memory for view() while a graph is computing; await it first`,
      );
    }
    const ab = this.host.native.view(this.host.handle, this.owner as Handle);
    this.#inHostMemory = true;
    return this.dtype === "i32" ? new Int32Array(ab) : new Float32Array(ab);
  }

  /** Sets every element to zero. */
  zero(): this {
    this.assertHostAccess("write");
    this.host.native.fillZero(this.handle);
    return this;
  }

  /** Releases the memory of a persistent tensor (and of its gradient). Idempotent; a no-op once the engine is disposed. */
  free(): void {
    if (this.kind === "node") throw new Error("reasonrl engine: graph nodes are freed with their graph");
    if (this.host.computing && this.owner) {
      throw new Error(
        `reasonrl engine: cannot free ${this.describe()} while a graph is computing; await it first`,
      );
    }
    if (this.owner) this.host.native.freeTensor(this.owner);
    this.owner = null;
    this.grad?.free();
  }
}
