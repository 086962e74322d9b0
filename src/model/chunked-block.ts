/**
 * One decoder layer (llama.ts's `block`) computed over query chunks, so its
 * attention scores exist as [B, H, n, S] pieces (n queries of the chunk
 * against its S = start + n causal keys) instead of one [B, H, T, T] matrix.
 *
 * Keys and values are projected once for the whole sequence; everything
 * after attention (output projection, residual, MLP) works row by row, so
 * each chunk runs to the layer's output on its own and the layer's output is
 * the chunks side by side along T. A graph's backward pass keeps only each
 * chunk's softmax, about half of one T x T matrix per head in all.
 *
 * Notation as in llama.ts: B batch, T sequence, C hidden, H heads, Hkv kv
 * heads, D head dim.
 */
import type { Graph, Tensor } from "../engine/index.ts";
import { headDim, heads, type LayerWeights, type LlamaConfig, mlp, project, rmsNorm } from "./llama.ts";

/** One chunk of a layer's output: rows [start, start + length) of T. */
export interface LayerChunk {
  start: number;
  length: number;
  out: Tensor; // [B, length, C]
}

/** Queries per attention chunk used when the caller gives none. */
export const DEFAULT_QUERY_CHUNK = 512;

/**
 * The decoder layer of x [B, T, C] at positions pos (i32 [T]), as chunks of
 * at most `queryChunk` rows. Equal to `block` (llama.ts) row for row.
 */
export function chunkedBlock(
  g: Graph,
  c: LlamaConfig,
  w: LayerWeights,
  x: Tensor,
  pos: Tensor,
  queryChunk = DEFAULT_QUERY_CHUNK,
): LayerChunk[] {
  if (!Number.isInteger(queryChunk) || queryChunk < 1) {
    throw new Error(`chunkedBlock: queryChunk must be a positive integer, got ${queryChunk}`);
  }
  const [B, T] = x.shape;
  const { heads: H, kvHeads: Hkv } = c;
  const D = headDim(c);
  const rope = { theta: c.ropeTheta, mode: "neox" as const };
  const xn = rmsNorm(g, x, w.attnNorm, c.rmsEps); // [B, T, C]
  const k = g.rope(heads(g, c, project(g, xn, w.wk, w.bk, w.lora?.k), Hkv, w.kNorm), pos, rope); // [B, T, Hkv, D]
  const v = heads(g, c, project(g, xn, w.wv, w.bv, w.lora?.v), Hkv); // [B, T, Hkv, D]
  const kh = g.cont(g.permute(k, [0, 2, 1, 3])); // [B, Hkv, T, D]
  const vh = g.cont(g.permute(v, [0, 2, 1, 3])); // [B, Hkv, T, D]

  const chunks: LayerChunk[] = [];
  for (let start = 0; start < T; start += queryChunk) {
    const n = Math.min(queryChunk, T - start);
    const S = start + n; // keys this chunk can see
    const rows = (t: Tensor) => (n === T ? t : g.cont(g.narrow(t, 1, start, n))); // [B, n, ..]
    const keys = (t: Tensor) => (S === T ? t : g.cont(g.narrow(t, 2, 0, S))); // [B, Hkv, S, D]
    const qPos = n === T ? pos : g.narrow(pos, 0, start, n); // i32 [n]
    const q = g.rope(heads(g, c, project(g, rows(xn), w.wq, w.bq, w.lora?.q), H, w.qNorm), qPos, rope); // [B, n, H, D]
    const qh = g.cont(g.permute(q, [0, 2, 1, 3])); // [B, H, n, D]
    const vt = g.cont(g.permute(keys(vh), [0, 1, 3, 2])); // [B, Hkv, D, S]
    const scores = g.causalMask(g.linear(qh, keys(kh)), start); // [B, H, n, S]
    const att = g.softmax(scores, { scale: 1 / Math.sqrt(D) }); // [B, H, n, S]
    const y = g.linear(att, vt); // [B, H, n, D]
    const merged = g.reshape(g.cont(g.permute(y, [0, 2, 1, 3])), [B, n, H * D]); // [B, n, H*D]
    const h = g.add(rows(x), project(g, merged, w.wo, w.bo, w.lora?.o)); // [B, n, C]
    const out = g.add(h, mlp(g, w, rmsNorm(g, h, w.mlpNorm, c.rmsEps))); // [B, n, C]
    chunks.push({ start, length: n, out });
  }
  return chunks;
}
