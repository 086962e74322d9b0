/**
 * Export of a model folder (Hugging Face layout) to a GGUF file that
 * llama.cpp loads, for the architectures reasonrl runs: qwen2, llama, qwen3.
 *
 * Tensor names (ggml dims are the PyTorch shape reversed):
 *   model.embed_tokens.weight            -> token_embd.weight
 *   model.layers.N.input_layernorm       -> blk.N.attn_norm
 *   model.layers.N.self_attn.q/k/v/o_proj -> blk.N.attn_q/attn_k/attn_v/attn_output (.weight, .bias)
 *   model.layers.N.self_attn.q/k_norm    -> blk.N.attn_q_norm/attn_k_norm (qwen3)
 *   model.layers.N.post_attention_layernorm -> blk.N.ffn_norm
 *   model.layers.N.mlp.gate/up/down_proj -> blk.N.ffn_gate/ffn_up/ffn_down
 *   model.norm.weight                    -> output_norm.weight
 *   lm_head.weight                       -> output.weight (absent when tied)
 *
 * Rotary layout: Hugging Face rotates the two halves of each head together
 * (neox style). llama.cpp does so too for qwen2 and qwen3, but for the llama
 * architecture it rotates adjacent pairs, so the rows of q and k (weights and
 * biases) are reordered per head: half h, index j -> row 2j + h. llama3 RoPE
 * scaling becomes the `rope_freqs.weight` tensor, linear scaling metadata.
 *
 * With type f16, matrices are stored as f16 and vectors (norms, biases,
 * rope_freqs) stay f32.
 */
import { basename, resolve } from "node:path";
import { tokenizerMetadata } from "./gguf-vocab.ts";
import { type GgmlTensorType, type GgufTensor, type GgufValue, gguf, writeGguf } from "./gguf-writer.ts";
import { type ModelConfig, ropeFrequencyDivisors } from "./hf-config.ts";
import { expectedTensors, openModelDir } from "./model-dir.ts";

/** Options of `exportGguf`. */
export interface GgufExportOptions {
  /** Storage of the matrices: f32 (default) or f16. */
  type?: "f32" | "f16";
  /** tokenizer.ggml.pre (llama.cpp's pre-tokenizer); detected from tokenizer.json when absent. */
  pre?: string;
  /** general.name (default: the folder's name). */
  name?: string;
}

/** What `exportGguf` wrote. */
export interface GgufExportResult {
  out: string;
  arch: ModelConfig["arch"];
  type: "f32" | "f16";
  tensors: number;
  bytes: number;
}

/** The GGUF tensor name of a Hugging Face tensor name. */
export function ggufTensorName(hfName: string): string {
  if (hfName === "model.embed_tokens.weight") return "token_embd.weight";
  if (hfName === "model.norm.weight") return "output_norm.weight";
  if (hfName === "lm_head.weight") return "output.weight";
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  const part = m ? LAYER_PARTS[m[2]] : undefined;
  if (!m || !part) throw new Error(`gguf export: no GGUF name for tensor ${hfName}`);
  return `blk.${m[1]}.${part}.${m[3]}`;
}

const LAYER_PARTS: Record<string, string> = {
  input_layernorm: "attn_norm",
  "self_attn.q_proj": "attn_q",
  "self_attn.k_proj": "attn_k",
  "self_attn.v_proj": "attn_v",
  "self_attn.o_proj": "attn_output",
  "self_attn.q_norm": "attn_q_norm",
  "self_attn.k_norm": "attn_k_norm",
  post_attention_layernorm: "ffn_norm",
  "mlp.gate_proj": "ffn_gate",
  "mlp.up_proj": "ffn_up",
  "mlp.down_proj": "ffn_down",
};

/**
 * Reorders the rows of a q or k projection (weight [heads*D, cols], or bias
 * with cols 1) from the neox layout (per head: first halves, then second
 * halves) to adjacent rotary pairs: row h*D/2 + j of a head goes to 2j + h.
 */
export function permuteRotaryRows(
  data: Float32Array,
  heads: number,
  headDim: number,
  cols: number,
): Float32Array {
  if (data.length !== heads * headDim * cols)
    throw new Error(`permuteRotaryRows: ${data.length} values for ${heads} heads x ${headDim} x ${cols}`);
  const half = headDim / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++)
    for (let s = 0; s < 2; s++)
      for (let j = 0; j < half; j++) {
        const from = (h * headDim + s * half + j) * cols;
        const to = (h * headDim + 2 * j + s) * cols;
        out.set(data.subarray(from, from + cols), to);
      }
  return out;
}

/** The `<arch>.*` and `general.*` metadata of a config. */
export function architectureMetadata(
  c: ModelConfig,
  type: "f32" | "f16",
  name: string,
): Record<string, GgufValue> {
  const a = c.arch;
  const meta: Record<string, GgufValue> = {
    "general.architecture": gguf.string(a),
    "general.name": gguf.string(name),
    "general.file_type": gguf.u32(type === "f32" ? 0 : 1),
    [`${a}.vocab_size`]: gguf.u32(c.vocabSize),
    [`${a}.context_length`]: gguf.u32(c.maxPositions),
    [`${a}.embedding_length`]: gguf.u32(c.hidden),
    [`${a}.block_count`]: gguf.u32(c.layers),
    [`${a}.feed_forward_length`]: gguf.u32(c.ffn),
    [`${a}.attention.head_count`]: gguf.u32(c.heads),
    [`${a}.attention.head_count_kv`]: gguf.u32(c.kvHeads),
    [`${a}.attention.key_length`]: gguf.u32(c.headDim),
    [`${a}.attention.value_length`]: gguf.u32(c.headDim),
    [`${a}.rope.dimension_count`]: gguf.u32(c.headDim),
    [`${a}.rope.freq_base`]: gguf.f32(c.ropeTheta),
    [`${a}.attention.layer_norm_rms_epsilon`]: gguf.f32(c.rmsEps),
  };
  if (c.ropeScaling?.type === "linear") {
    meta[`${a}.rope.scaling.type`] = gguf.string("linear");
    meta[`${a}.rope.scaling.factor`] = gguf.f32(c.ropeScaling.factor);
  }
  return meta;
}

/** Throws for configs llama.cpp's loader for the architecture would reject or ignore. */
function checkSupported(c: ModelConfig, where: string): void {
  if (c.arch === "qwen3" && c.oBias)
    throw new Error(`${where}: llama.cpp's qwen3 has no o_proj bias (attention_bias); cannot export`);
  if (c.ropeScaling?.type === "llama3" && c.arch !== "llama")
    throw new Error(`${where}: llama3 RoPE scaling is only read by llama.cpp's llama architecture`);
}

/**
 * Writes `outFile` (atomically) as a GGUF of the model folder `modelDir`:
 * architecture metadata, the tokenizer (see gguf-vocab.ts) and every weight.
 */
export async function exportGguf(
  modelDir: string,
  outFile: string,
  options: GgufExportOptions = {},
): Promise<GgufExportResult> {
  const type = options.type ?? "f32";
  if (type !== "f32" && type !== "f16") throw new Error(`gguf export: type ${type} is not f32 or f16`);
  const md = await openModelDir(modelDir);
  try {
    const c = md.config;
    checkSupported(c, `gguf export ${modelDir}`);
    const name = options.name ?? basename(resolve(modelDir));
    const metadata = {
      ...architectureMetadata(c, type, name),
      ...(await tokenizerMetadata(modelDir, c, { pre: options.pre })),
    };
    const matrix: GgmlTensorType = type === "f16" ? "F16" : "F32";
    const tensors: GgufTensor[] = expectedTensors(c).map((spec) => {
      if (!md.weights.has(spec.name))
        throw new Error(`gguf export ${modelDir}: tensor ${spec.name} is missing`);
      const shape = md.weights.entry(spec.name).shape;
      if (shape.join() !== spec.shape.join())
        throw new Error(
          `gguf export ${modelDir}: tensor ${spec.name} has shape [${shape}], the config needs [${spec.shape}]`,
        );
      const rotary = c.arch === "llama" ? /\.self_attn\.(q|k)_proj\./.exec(spec.name)?.[1] : undefined;
      return {
        name: ggufTensorName(spec.name),
        shape: spec.shape,
        type: spec.shape.length === 2 ? matrix : "F32",
        data: async () => {
          const data = await md.weights.readFloat32(spec.name);
          if (!rotary) return data;
          const cols = spec.shape.length === 2 ? spec.shape[1] : 1;
          return permuteRotaryRows(data, rotary === "q" ? c.heads : c.kvHeads, c.headDim, cols);
        },
      };
    });
    const freqs = c.ropeScaling?.type === "llama3" ? ropeFrequencyDivisors(c) : null;
    if (freqs)
      tensors.push({ name: "rope_freqs.weight", shape: [freqs.length], type: "F32", data: () => freqs });
    const { bytes } = await writeGguf(outFile, { metadata, tensors });
    return { out: outFile, arch: c.arch, type, tensors: tensors.length, bytes };
  } finally {
    await md.close();
  }
}
