/**
 * The neural-network ops a Llama/Qwen transformer and the GRPO loss need:
 * matrix products, embeddings, normalisation, rotary embeddings, attention
 * masks and softmax, log-probabilities, in-place writes and the AdamW update.
 * Checked in TypeScript like the tensor ops they build on (ops-base.ts).
 */
import { TensorOps } from "./ops-base.ts";
import type { Tensor } from "./tensor.ts";

export type RopeMode = "normal" | "neox";

export interface RopeOptions {
  /** Base frequency (rope_theta in config.json). */
  theta: number;
  /** "normal" rotates adjacent pairs (GPT-J/llama.cpp Llama GGUF); "neox" rotates halves (HF Llama/Qwen). */
  mode: RopeMode;
  /** Rotated dims of each head (default: all). */
  dims?: number;
  /** Linear position scaling factor (1 = none). */
  freqScale?: number;
}

/** Added to picked probabilities before log, so log-probs stay finite (>= -69.08). */
export const LOG_PROB_FLOOR_EPS = 1e-30;
export abstract class Ops extends TensorOps {
  // ---- matrix products ----------------------------------------------------

  /**
   * x @ w^T over the last dim, as torch.nn.functional.linear: x [..., K],
   * w [..., N, K] -> [..., N]. w's leading dims broadcast over x's. w may be
   * f16/bf16/q8_0 (frozen weights: x still gets its gradient); x must be f32. Also the attention products:
   * linear(q [B,H,T,D], k [B,H,S,D]) = q @ k^T -> [B,H,T,S].
   */
  linear(x: Tensor, w: Tensor): Tensor {
    this.alive("linear", x, w);
    this.f32("linear", x);
    if (w.dtype === "i32")
      throw new Error(`reasonrl engine: linear: weight ${w.describe()} must be a float type`);
    const [xe, we] = [x.ne(), w.ne()];
    if (xe[0] !== we[0] || xe[2] % we[2] !== 0 || xe[3] % we[3] !== 0) {
      throw new Error(
        `reasonrl engine: linear(x ${x.describe()}, w ${w.describe()}): need x [..., K] and w [..., N, K] ` +
          "with equal K and w's leading dims dividing x's",
      );
    }
    // ggml's products need each row's elements adjacent in both operands.
    const weight = this.isTransposed(w) ? this.node("cont", [w]) : w;
    const input = this.isTransposed(x) ? this.node("cont", [x]) : x;
    if (w.shape.length <= 2 && x.shape.length > 2) {
      // A 2-D weight: flatten x to a matrix so the product and its backward
      // (out_prod) are plain matrix ops that the BLAS backend accepts.
      const K = x.shape[x.shape.length - 1];
      const y = this.node("mulMat", [weight, this.reshape(input, [x.size / K, K])]);
      return this.reshape(y, [...x.shape.slice(0, -1), w.shape[0]]);
    }
    if (w.requiresGrad && xe[3] > 1 && (we[2] !== xe[2] || we[3] !== xe[3])) {
      // ggml's mul_mat backward cannot reduce a broadcast weight when dim 3 > 1: expand it first.
      return this.node("mulMat", [this.expandLeading(weight, xe[2], xe[3]), input]);
    }
    return this.node("mulMat", [weight, input]);
  }

  /**
   * w [a3, a2, N, K] -> [n3, n2, N, K] where a2 divides n2 and a3 is 1 or n3.
   * Dim 2 is expanded interleaved (index i reads i / (n2 / a2)), matching
   * mul_mat's broadcast and HF's repeat_kv; dim 3 is tiled.
   */
  protected expandLeading(w: Tensor, n2: number, n3: number): Tensor {
    const [K, N, a2, a3] = w.ne();
    const rep = n2 / a2;
    // [a3, a2, 1, N*K] -> repeat -> [n3, a2, rep, N*K] -> [n3, n2, N, K]
    const flat = this.node("reshape", [this.cont(w)], [K * N, 1, a2, a3], [], 4);
    const tiled = this.node("repeat4d", [flat], [K * N, rep, a2, n3], [], 4);
    return this.node("reshape", [tiled], [K, N, n2, n3], [], 4);
  }

  // ---- transformer layers -------------------------------------------------

  /** Rows of `table` [V, D] picked by `ids` (i32, any shape S) -> [...S, D], f32. */
  embedding(table: Tensor, ids: Tensor): Tensor {
    this.alive("embedding", table, ids);
    if (ids.dtype !== "i32") throw new Error(`reasonrl engine: embedding ids ${ids.describe()} must be i32`);
    if (table.shape.length !== 2)
      throw new Error(`reasonrl engine: embedding table ${table.describe()} must be [V, D]`);
    if (ids.shape.length > 3)
      throw new Error(`reasonrl engine: embedding ids ${ids.describe()} has too many dims`);
    // ggml aborts on an out-of-range row index, so persistent ids are checked before each compute.
    if (ids.kind !== "node") this.checkIndices(ids, table.shape[0], `embedding of ${table.describe()}`);
    const flat = ids.shape.length === 1 ? ids : this.reshape(ids, [ids.size]);
    const rows = this.node("getRows", [table, flat], [], [], 2);
    return ids.shape.length === 1 ? rows : this.reshape(rows, [...ids.shape, table.shape[1]]);
  }

  /** x / sqrt(mean(x^2) + eps) over the last dim (multiply by the weight separately). */
  rmsNorm(x: Tensor, eps: number): Tensor {
    this.f32("rmsNorm", x);
    if (!(eps > 0)) throw new Error(`reasonrl engine: rmsNorm eps must be > 0, got ${eps}`);
    return this.node("rmsNorm", [this.cont(x)], [], [eps]);
  }

  /**
   * Rotary position embedding of x [T, H, D] or [B, T, H, D] with positions
   * `pos` (i32 [T], shared by the batch). For sequences with different
   * positions, flatten B*T into T.
   */
  rope(x: Tensor, pos: Tensor, options: RopeOptions): Tensor {
    this.f32("rope", x);
    this.alive("rope", pos);
    const r = x.shape.length;
    const T = x.shape[r - 3];
    const D = x.shape[r - 1];
    const dims = options.dims ?? D;
    if (r < 3 || pos.dtype !== "i32" || pos.shape.length !== 1 || pos.shape[0] !== T) {
      throw new Error(
        `reasonrl engine: rope(x ${x.describe()}, pos ${pos.describe()}): need x [T, H, D] or [B, T, H, D] and i32 pos [T]`,
      );
    }
    if (dims % 2 !== 0 || dims > D || !(options.theta > 0)) {
      throw new Error(
        `reasonrl engine: rope: dims ${dims} must be even and <= ${D}, theta ${options.theta} > 0`,
      );
    }
    const mode = options.mode === "neox" ? 2 : 0;
    return this.node("rope", [this.cont(x), pos], [dims, mode, 0], [options.theta, options.freqScale ?? 1]);
  }

  /** Sets x[..., t, s] = -inf where s > t + nPast (causal mask over [..., T, S]). */
  causalMask(x: Tensor, nPast = 0): Tensor {
    this.f32("causalMask", x);
    if (!this.onGpu()) return this.node("diagMaskInf", [this.cont(x)], [nPast]);
    // On a GPU, an additive mask [T, S] (0 kept, -inf dropped) broadcast over the leading dims:
    // ggml-vulkan has no DIAG_MASK_ZERO (the backward of diag_mask_inf), whose CPU fallback in
    // the middle of the attention backward gave wrong gradients on lavapipe once the graph was
    // laid out again (a 2-layer model's loss stopped falling; test/engine/training.test.ts).
    const [S, T] = x.ne();
    const mask = new Float32Array(T * S).fill(Number.NEGATIVE_INFINITY);
    for (let t = 0; t < T; t++) mask.fill(0, t * S, t * S + Math.min(S, t + nPast + 1));
    return this.add(x, this.constant([T, S], "f32", mask));
  }

  /**
   * softmax(x * scale + mask) over the last dim. `mask` (f32 [.., T', S] with
   * T' >= T; dims 0-1 dividing x's) is additive: 0 keeps, -Infinity drops; no gradient to it.
   */
  softmax(x: Tensor, options: { mask?: Tensor; scale?: number } = {}): Tensor {
    this.f32("softmax", x);
    const scale = options.scale ?? 1;
    const srcs = [this.cont(x)];
    if (options.mask) {
      const m = this.f32("softmax mask", options.mask);
      if (m.requiresGrad) {
        throw new Error(
          `reasonrl engine: softmax mask ${m.describe()} depends on parameters; ggml has no gradient for masks`,
        );
      }
      const [xe, me] = [x.ne(), m.ne()];
      if (me[0] !== xe[0] || me[1] < xe[1] || xe[2] % me[2] !== 0 || xe[3] % me[3] !== 0) {
        throw new Error(`reasonrl engine: softmax mask ${m.describe()} does not fit ${x.describe()}`);
      }
      srcs.push(this.cont(m));
    }
    return this.node("softmax", srcs, [], [scale]);
  }

  /**
   * Log-probability of each row's target: logits [N, V], targets (host ids, N of them)
   * -> [N] = log softmax(logits)[n, targets[n]], floored at log(1e-30).
   * Picks single probabilities (no N x V one-hot), so memory is the softmax only.
   */
  logProbsOf(logits: Tensor, targets: Int32Array): Tensor {
    this.f32("logProbsOf", logits);
    if (logits.shape.length !== 2)
      throw new Error(`reasonrl engine: logProbsOf needs logits [N, V], got ${logits.describe()}`);
    const [N, V] = logits.shape;
    if (targets.length !== N)
      throw new Error(`reasonrl engine: logProbsOf: ${targets.length} targets for ${N} rows`);
    const flat = new Int32Array(N);
    for (let n = 0; n < N; n++) {
      const t = targets[n];
      if (!(t >= 0 && t < V))
        throw new Error(`reasonrl engine: logProbsOf: target ${t} at row ${n} outside vocab ${V}`);
      flat[n] = n * V + t;
    }
    const probs = this.reshape(this.softmax(logits), [N * V, 1]);
    const picked = this.node("getRows", [probs, this.constant([N], "i32", flat)], [], [], 2); // [N, 1]
    return this.reshape(this.log(this.scale(picked, 1, LOG_PROB_FLOOR_EPS)), [N]);
  }

  /** log softmax(x) over the last dim, floored at log(1e-30) like logProbsOf. */
  logSoftmax(x: Tensor): Tensor {
    return this.log(this.scale(this.softmax(x), 1, LOG_PROB_FLOOR_EPS));
  }

  /** Entropy of softmax(logits) per row: [N, V] -> [N]. */
  entropy(logits: Tensor): Tensor {
    const p = this.softmax(logits);
    const plogp = this.mul(p, this.log(this.scale(p, 1, LOG_PROB_FLOOR_EPS)));
    return this.reshape(this.neg(this.sumRows(plogp)), [logits.shape[0]]);
  }

  // ---- in-place writes -----------------------------------------------------

  /**
   * Writes the rows of src [n, E] into rows `rows[i]` of the persistent
   * tensor dst [R, E] (f32 or f16), in place, e.g. new keys into a KV cache.
   * Returns dst after the write [R, E]: read the written tensor through it so
   * the reads are ordered after the write. A graph holding it has no backward.
   */
  setRows(dst: Tensor, src: Tensor, rows: Tensor): Tensor {
    this.alive("setRows", dst, src, rows);
    if (dst.kind === "node" || dst.kind === "param") {
      throw new Error(
        `reasonrl engine: setRows: destination ${dst.describe()} must be a persistent non-parameter tensor`,
      );
    }
    if (dst.shape.length !== 2 || src.shape.length !== 2 || rows.shape.length !== 1 || rows.dtype !== "i32") {
      throw new Error(
        `reasonrl engine: setRows(${dst.describe()}, ${src.describe()}, ${rows.describe()}): need dst [R, E], src [n, E], i32 rows [n]`,
      );
    }
    if (
      dst.shape[1] !== src.shape[1] ||
      src.shape[0] !== rows.shape[0] ||
      (dst.dtype !== "f32" && dst.dtype !== "f16")
    ) {
      throw new Error(
        `reasonrl engine: setRows(${dst.describe()}, ${src.describe()}, ${rows.describe()}): row sizes or counts differ, or dst is not f32/f16`,
      );
    }
    if (rows.kind !== "node") this.checkIndices(rows, dst.shape[0], `rows of ${dst.describe()}`);
    return this.node("setRows", [dst, this.input("setRows", src), rows]);
  }

  // ---- optimizer -----------------------------------------------------------

  /**
   * One AdamW update of parameter p in place, from grad and moments m, v (all
   * f32, p's shape) and hyper = [lr, beta1, beta2, eps, weight decay,
   * 1/(1-beta1^t), 1/(1-beta2^t)]. Build it as an `effects` node.
   */
  adamwUpdate(p: Tensor, grad: Tensor, m: Tensor, v: Tensor, hyper: Tensor): Tensor {
    if (p.kind !== "param")
      throw new Error(`reasonrl engine: adamwUpdate: ${p.describe()} is not a parameter`);
    for (const t of [grad, m, v]) {
      this.f32("adamwUpdate", t);
      this.sameShape("adamwUpdate", p, t);
    }
    if (this.f32("adamwUpdate", hyper).size !== 7) {
      throw new Error(`reasonrl engine: adamwUpdate: hyper must hold 7 values, got ${hyper.describe()}`);
    }
    return this.node("adamw", [p, this.cont(grad), m, v, hyper]);
  }
}
