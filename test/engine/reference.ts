/** Plain TypeScript reference implementations of the ops, row-major, outermost dim first. */

/** y[.., n] = sum_k x[.., k] w[n, k]  (x: rows x K, w: N x K). */
export function linear(x: Float32Array, w: Float32Array, rows: number, K: number, N: number): Float32Array {
  const y = new Float32Array(rows * N);
  for (let r = 0; r < rows; r++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[r * K + k] * w[n * K + k];
      y[r * N + n] = s;
    }
  return y;
}

/** softmax over rows of length n, after x * scale. */
export function softmax(x: Float32Array, n: number, scale = 1): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, x[r * n + i] * scale);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(x[r * n + i] * scale - max);
    for (let i = 0; i < n; i++) y[r * n + i] = Math.exp(x[r * n + i] * scale - max) / sum;
  }
  return y;
}

export function rmsNorm(x: Float32Array, n: number, eps: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[r * n + i] ** 2;
    const inv = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) y[r * n + i] = x[r * n + i] * inv;
  }
  return y;
}

/**
 * Rotary embedding of x [T, H, D] at positions pos: "neox" rotates (i, i + D/2)
 * pairs (Hugging Face Llama/Qwen), "normal" rotates (2i, 2i + 1) pairs.
 */
export function rope(
  x: Float32Array,
  T: number,
  H: number,
  D: number,
  pos: number[],
  theta: number,
  neox: boolean,
): Float32Array {
  const y = Float32Array.from(x);
  for (let t = 0; t < T; t++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < D / 2; i++) {
        const angle = pos[t] * theta ** ((-2 * i) / D);
        const [c, s] = [Math.cos(angle), Math.sin(angle)];
        const base = (t * H + h) * D;
        const [a, b] = neox ? [base + i, base + i + D / 2] : [base + 2 * i, base + 2 * i + 1];
        y[a] = x[a] * c - x[b] * s;
        y[b] = x[a] * s + x[b] * c;
      }
  return y;
}

export const silu = (v: number) => v / (1 + Math.exp(-v));

/** Generic elementwise map. */
export function map(x: Float32Array, f: (v: number, i: number) => number): Float32Array {
  return Float32Array.from(x, f);
}

/** Permutes a row-major tensor of `shape` so output dim i is input dim perm[i]. */
export function permute(x: Float32Array, shape: number[], perm: number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const y = new Float32Array(x.length);
  const idx = new Array(shape.length).fill(0);
  for (let o = 0; o < y.length; o++) {
    let rem = o;
    for (let d = outShape.length - 1; d >= 0; d--) {
      idx[d] = rem % outShape[d];
      rem = Math.floor(rem / outShape[d]);
    }
    let src = 0;
    for (let d = 0; d < perm.length; d++) src += idx[d] * strides[perm[d]];
    y[o] = x[src];
  }
  return y;
}
