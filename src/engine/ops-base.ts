/**
 * Tensor ops: elementwise with broadcasting, reductions, shapes and views.
 * Every method checks shapes and dtypes here, in TypeScript, and throws an
 * error naming them; only then does it call into ggml (where a failed
 * assertion would abort the process). The neural-network ops build on these
 * in ops-nn.ts.
 *
 * Shapes are outermost first ([B, T, C]); "rows" are the last dimension.
 * Ops marked "no gradient" pass none back (usable as masks).
 */
import { type DType, GGML_TYPE } from "./dtype.ts";
import type { Tensor } from "./tensor.ts";

export abstract class TensorOps {
  /** @internal creates one ggml node; srcs already checked. */
  protected abstract node(
    op: string,
    srcs: Tensor[],
    ints?: number[],
    floats?: number[],
    rank?: number,
  ): Tensor;
  /** @internal records that persistent `ids` must hold values in [0, limit) at each compute. */
  protected abstract checkIndices(ids: Tensor, limit: number, what: string): void;
  /** @internal a constant owned by this graph (freed with it). */
  protected abstract constant(shape: number[], dtype: DType, data: Float32Array | Int32Array): Tensor;
  /** Whether the graph's engine computes on a GPU device (not the CPU). */
  protected abstract onGpu(): boolean;

  // ---- elementwise ------------------------------------------------------

  /** a + b, with b broadcast over a (each dim of b divides a's). */
  add(a: Tensor, b: Tensor): Tensor {
    return this.node("add", this.broadcastPair("add", a, b));
  }

  /** a - b, with b broadcast over a. */
  sub(a: Tensor, b: Tensor): Tensor {
    return this.node("sub", this.broadcastPair("sub", a, b));
  }

  /** a * b elementwise, with b broadcast over a. */
  mul(a: Tensor, b: Tensor): Tensor {
    return this.node("mul", this.broadcastPair("mul", a, b));
  }

  /** a / b elementwise, with b broadcast over a. */
  div(a: Tensor, b: Tensor): Tensor {
    return this.node("div", this.broadcastPair("div", a, b));
  }

  /** a * s + bias, with scalar s and bias. */
  scale(a: Tensor, s: number, bias = 0): Tensor {
    this.f32("scale", a);
    if (!Number.isFinite(s) || !Number.isFinite(bias)) {
      throw new Error(`reasonrl engine: scale(${a.describe()}): factor ${s} and bias ${bias} must be finite`);
    }
    return this.node("scale", [this.cont(a)], [], [s, bias]);
  }

  neg(a: Tensor): Tensor {
    return this.node("neg", [this.input("neg", a)]);
  }
  sqr(a: Tensor): Tensor {
    return this.node("sqr", [this.input("sqr", a)]);
  }
  sqrt(a: Tensor): Tensor {
    return this.node("sqrt", [this.input("sqrt", a)]);
  }
  exp(a: Tensor): Tensor {
    return this.node("exp", [this.input("exp", a)]);
  }
  log(a: Tensor): Tensor {
    return this.node("log", [this.input("log", a)]);
  }
  silu(a: Tensor): Tensor {
    return this.node("silu", [this.input("silu", a)]);
  }
  /** 1 where a > 0, else 0. No gradient. */
  step(a: Tensor): Tensor {
    return this.node("step", [this.input("step", a)]);
  }

  /** silu(gate) * up, the SwiGLU of Llama/Qwen MLPs (same shapes). */
  swiglu(gate: Tensor, up: Tensor): Tensor {
    this.sameShape("swiglu", gate, up);
    return this.node("swiglu", [this.input("swiglu", gate), this.input("swiglu", up)]);
  }

  /** max(a, 0), as a * step(a) so the gradient is exact. */
  relu(a: Tensor): Tensor {
    return this.mul(a, this.step(a));
  }

  /** Elementwise min(a, b) of same-shape tensors; the gradient goes to the smaller one. */
  minimum(a: Tensor, b: Tensor): Tensor {
    this.sameShape("minimum", a, b);
    return this.sub(a, this.relu(this.sub(a, b)));
  }

  /** Elementwise clamp to [lo, hi]; zero gradient where clamped (PPO/GRPO ratio clipping). */
  clamp(a: Tensor, lo: number, hi: number): Tensor {
    if (!(lo <= hi)) throw new Error(`reasonrl engine: clamp(${a.describe()}): lo ${lo} > hi ${hi}`);
    // a - relu(a - hi) + relu(lo - a)
    const over = this.relu(this.scale(a, 1, -hi));
    const under = this.relu(this.scale(a, -1, lo));
    return this.add(this.sub(a, over), under);
  }

  // ---- reductions ---------------------------------------------------------

  /** Sum of all elements: [1]. */
  sum(a: Tensor): Tensor {
    return this.node("sum", [this.input("sum", a)], [], [], 1);
  }
  /** Sum over the last dim: [..., n] -> [..., 1]. */
  sumRows(a: Tensor): Tensor {
    return this.node("sumRows", [this.input("sumRows", a)]);
  }
  /** Mean over the last dim: [..., n] -> [..., 1]. */
  meanRows(a: Tensor): Tensor {
    // Not ggml_mean: its backward asserts (aborts) when the input already has a gradient.
    return this.scale(this.sumRows(a), 1 / a.shape[a.shape.length - 1]);
  }
  /** Mean of all elements: [1]. */
  mean(a: Tensor): Tensor {
    return this.scale(this.sum(a), 1 / a.size);
  }
  /** Index of the largest value of each row: [..., n] f32 -> [rows] i32. No gradient. */
  argmax(a: Tensor): Tensor {
    this.f32("argmax", a);
    if (a.shape.length > 2)
      throw new Error(`reasonrl engine: argmax needs a 1-D or 2-D tensor, got ${a.describe()}`);
    return this.node("argmax", [this.cont(a)], [], [], 1);
  }
  /** a repeated (tiled) to the shape of `like` (each dim of a divides like's). */
  repeat(a: Tensor, like: Tensor): Tensor {
    this.broadcastPair("repeat", like, a);
    return this.node("repeat", [a, like]);
  }

  // ---- shapes -------------------------------------------------------------

  /** Same data, new shape (same element count; a must be contiguous: call cont() after permute). */
  reshape(a: Tensor, shape: readonly number[]): Tensor {
    this.unquantized("reshape", a);
    const size = shape.reduce((x, y) => x * y, 1);
    if (
      shape.length < 1 ||
      shape.length > 4 ||
      !shape.every((d) => Number.isInteger(d) && d > 0) ||
      size !== a.size
    ) {
      throw new Error(
        `reasonrl engine: reshape(${a.describe()}) to [${shape.join(", ")}]: element counts differ`,
      );
    }
    const ne = [...shape].reverse();
    while (ne.length < 4) ne.push(1);
    return this.node("reshape", [this.cont(a)], ne, [], shape.length);
  }

  /** Reorders dims as torch.permute: output dim i is input dim perm[i]. */
  permute(a: Tensor, perm: readonly number[]): Tensor {
    this.unquantized("permute", a);
    const r = a.shape.length;
    const sorted = [...perm].sort();
    if (perm.length !== r || !sorted.every((d, i) => d === i)) {
      throw new Error(
        `reasonrl engine: permute(${a.describe()}): [${perm.join(", ")}] is not a permutation of ${r} dims`,
      );
    }
    // ggml: axis j of the input moves to position ax[j]; dim d (outermost first) is ggml axis r-1-d.
    const ax = [0, 1, 2, 3];
    perm.forEach((src, i) => {
      ax[r - 1 - src] = r - 1 - i;
    });
    return this.node("permute", [a], ax);
  }

  /** Swaps the last two dims (a view; cont() makes it contiguous). */
  transpose(a: Tensor): Tensor {
    this.unquantized("transpose", a);
    if (a.shape.length < 2)
      throw new Error(`reasonrl engine: transpose needs >= 2 dims, got ${a.describe()}`);
    return this.node("transpose", [a]);
  }

  /** A contiguous copy (no-op node when already contiguous is still a copy). */
  cont(a: Tensor): Tensor {
    this.alive("cont", a);
    return a.kind === "node" && !this.isContiguous(a) ? this.node("cont", [a]) : a;
  }

  /** Elements [start, start+length) of dim `dim` (a contiguous view). */
  narrow(a: Tensor, dim: number, start: number, length: number): Tensor {
    this.unquantized("narrow", a);
    const r = a.shape.length;
    if (
      !Number.isInteger(dim) ||
      dim < 0 ||
      dim >= r ||
      start < 0 ||
      length < 1 ||
      start + length > a.shape[dim]
    ) {
      throw new Error(
        `reasonrl engine: narrow(${a.describe()}, dim ${dim}, start ${start}, length ${length}) is out of range`,
      );
    }
    const c = this.cont(a);
    const ne = c.ne();
    const esz = c.dtype === "f16" || c.dtype === "bf16" ? 2 : 4;
    const nb = [esz, esz * ne[0], esz * ne[0] * ne[1], esz * ne[0] * ne[1] * ne[2]];
    const g = r - 1 - dim;
    const outNe = [...ne];
    outNe[g] = length;
    return this.node("view", [c], [...outNe, nb[1], nb[2], nb[3], start * nb[g]]);
  }

  /** Converts to another dtype (e.g. bf16 weights to f32; q8_0 dequantizes to f32 only). */
  cast(a: Tensor, dtype: DType): Tensor {
    this.alive("cast", a);
    if (dtype === "i32" || a.dtype === "i32" || dtype === "q8_0" || (a.dtype === "q8_0" && dtype !== "f32"))
      throw new Error(`reasonrl engine: cast of ${a.describe()} to ${dtype} is not supported`);
    return this.node("cast", [this.cont(a)], [GGML_TYPE[dtype]]);
  }

  // ---- checks -------------------------------------------------------------

  protected alive(op: string, ...ts: Tensor[]): void {
    for (const t of ts) t.assertAlive(`use in ${op}`);
  }

  /** q8_0 tensors are read whole, by products, embeddings and cast(); their blocks cannot be re-laid out. */
  protected unquantized(op: string, a: Tensor): Tensor {
    this.alive(op, a);
    if (a.dtype === "q8_0") {
      throw new Error(
        `reasonrl engine: ${op} of q8_0 tensor ${a.describe()} is not supported (use it in linear/embedding, or cast it to f32)`,
      );
    }
    return a;
  }

  protected f32(op: string, a: Tensor): Tensor {
    this.alive(op, a);
    if (a.dtype !== "f32") throw new Error(`reasonrl engine: ${op} needs f32, got ${a.describe()}`);
    return a;
  }

  /** An f32 operand made contiguous (ggml's CPU kernels for these ops need contiguous rows). */
  protected input(op: string, a: Tensor): Tensor {
    return this.cont(this.f32(op, a));
  }

  protected sameShape(op: string, a: Tensor, b: Tensor): void {
    if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
      throw new Error(`reasonrl engine: ${op}: shapes differ: ${a.describe()} vs ${b.describe()}`);
    }
  }

  /** Checks that b broadcasts over a (ggml repeats b; dims compared innermost first). */
  protected broadcastPair(op: string, a: Tensor, b: Tensor): [Tensor, Tensor] {
    this.f32(op, a);
    this.f32(op, b);
    const [ae, be] = [a.ne(), b.ne()];
    if (be.some((d, i) => ae[i] % d !== 0)) {
      throw new Error(
        `reasonrl engine: ${op}(${a.describe()}, ${b.describe()}): the second shape must broadcast over the first`,
      );
    }
    return [this.cont(a), this.cont(b)];
  }

  protected isContiguous(a: Tensor): boolean {
    return a.layout !== "strided" && a.layout !== "transposed";
  }

  protected isTransposed(a: Tensor): boolean {
    return a.layout === "transposed";
  }
}
