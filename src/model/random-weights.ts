/**
 * Frozen random weights at a model's real shapes, made straight on the
 * engine without a model folder: for measuring memory and speed (bench
 * memory, the plan's probe), where the values only need to be finite and
 * of a realistic size.
 */
import type { Engine } from "../engine/index.ts";
import { headDim, type LayerWeights, type LlamaConfig, type LlamaWeights } from "./llama.ts";
import { seededRandom } from "./random.ts";

/**
 * A frozen model of random values: matrices in `dtype`, each element
 * +-(1 + m) 2^-e with e in 6..9 (so |w| ~ 0.002-0.03), norms 1, biases 0.
 * Half-precision bits are written directly, so no f32 copy of the
 * 0.9 GB embedding exists on the way.
 */
export function randomFrozenWeights(
  engine: Engine,
  c: LlamaConfig,
  dtype: "f32" | "f16" | "bf16",
  seed = 1,
): LlamaWeights {
  const rand = seededRandom(seed);
  const matrix = (shape: number[], name: string) => {
    const n = shape[0] * shape[1];
    if (dtype === "f32") {
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = (rand() - 0.5) * 0.04;
      return engine.tensor(shape, { name, data });
    }
    // f16: 5 exponent bits (bias 15), 10 mantissa; bf16: 8 (bias 127), 7.
    const [bias, mant] = dtype === "f16" ? [15, 10] : [127, 7];
    const bits = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const r = (rand() * 2 ** 16) >>> 0;
      const e = bias - 6 - (r & 3);
      bits[i] = ((r >>> 15) << 15) | (e << mant) | ((r >>> 2) & ((1 << mant) - 1));
    }
    return engine.tensor(shape, { name, dtype, data: new Uint8Array(bits.buffer) });
  };
  const filled = (n: number, value: number, name: string) =>
    engine.tensor([n], { name, data: new Float32Array(n).fill(value) });
  const { vocabSize: V, hidden: C, heads: H, kvHeads: Hkv, ffn: F } = c;
  const D = headDim(c);
  const embed = matrix([V, C], "embed");
  const layers = Array.from(
    { length: c.layers },
    (_, i): LayerWeights => ({
      attnNorm: filled(C, 1, `l${i}.attn_norm`),
      wq: matrix([H * D, C], `l${i}.wq`),
      wk: matrix([Hkv * D, C], `l${i}.wk`),
      wv: matrix([Hkv * D, C], `l${i}.wv`),
      wo: matrix([C, H * D], `l${i}.wo`),
      ...(c.attentionBias
        ? {
            bq: filled(H * D, 0, `l${i}.bq`),
            bk: filled(Hkv * D, 0, `l${i}.bk`),
            bv: filled(Hkv * D, 0, `l${i}.bv`),
          }
        : {}),
      ...(c.outputBias ? { bo: filled(C, 0, `l${i}.bo`) } : {}),
      ...(c.qkNorm ? { qNorm: filled(D, 1, `l${i}.q_norm`), kNorm: filled(D, 1, `l${i}.k_norm`) } : {}),
      mlpNorm: filled(C, 1, `l${i}.mlp_norm`),
      wGate: matrix([F, C], `l${i}.w_gate`),
      wUp: matrix([F, C], `l${i}.w_up`),
      wDown: matrix([C, F], `l${i}.w_down`),
    }),
  );
  const lmHead = c.tieEmbeddings ? embed : matrix([V, C], "lm_head");
  return { embed, layers, finalNorm: filled(C, 1, "final_norm"), lmHead };
}
