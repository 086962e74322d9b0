/**
 * Model configs: Hugging Face `config.json` read into one typed `ModelConfig`,
 * and written back.
 *
 * Supported architectures (the `architectures` field):
 * - `Qwen2ForCausalLM` (Qwen2, Qwen2.5, DeepSeek-R1-Distill-Qwen): q/k/v
 *   projections with biases, o_proj without.
 * - `LlamaForCausalLM`: no biases unless `attention_bias` (then q/k/v/o all have one).
 * - `Qwen3ForCausalLM`: RMS norm over each head of q and k (`q_norm`, `k_norm`),
 *   no biases unless `attention_bias`; `head_dim` may differ from hidden/heads.
 * All three: RMSNorm, rotary embeddings, grouped-query attention, SwiGLU MLP
 * without biases, tied or untied embeddings.
 *
 * RoPE scaling: absent, null or type "default" means none. Implemented:
 * "linear" (positions divided by `factor`) and "llama3" (Llama 3.1/3.2: low
 * frequencies divided by `factor`, a smooth ramp between; see
 * `ropeFrequencyDivisors`). Any other type ("yarn", "dynamic", "longrope", ...)
 * is an error naming it, as is any other unsupported field value.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { writeFileAtomic } from "./safetensors-write.ts";

/** Architecture families and their Hugging Face class names. */
export const ARCH_CLASSES = {
  qwen2: "Qwen2ForCausalLM",
  llama: "LlamaForCausalLM",
  qwen3: "Qwen3ForCausalLM",
} as const;
export type Arch = keyof typeof ARCH_CLASSES;

const posInt = z.number().int().positive();
const tokenId = z.number().int().nonnegative();

/** RoPE scaling reasonrl implements (null in `ModelConfig` when none). */
export const RopeScaling = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("linear"),
    factor: z.number().positive().describe("positions are divided by this"),
  }),
  z.object({
    type: z.literal("llama3"),
    factor: z.number().positive().describe("divisor of the low frequencies"),
    lowFreqFactor: z.number().positive().describe("low_freq_factor"),
    highFreqFactor: z.number().positive().describe("high_freq_factor (> low_freq_factor)"),
    originalMaxPositions: posInt.describe("original_max_position_embeddings: the pre-training context"),
  }),
]);
export type RopeScaling = z.output<typeof RopeScaling>;

const ModelConfigFields = z.object({
  arch: z.enum(["qwen2", "llama", "qwen3"]).describe("family; config.json model_type, class in ARCH_CLASSES"),
  vocabSize: posInt.describe("vocab_size: V, rows of embed_tokens and lm_head"),
  hidden: posInt.describe("hidden_size: C, the residual stream width"),
  ffn: posInt.describe("intermediate_size: F, the MLP width"),
  layers: posInt.describe("num_hidden_layers"),
  heads: posInt.describe("num_attention_heads: H"),
  kvHeads: posInt.optional().describe("num_key_value_heads: Hkv, divides H (default H)"),
  headDim: posInt.optional().describe("head_dim: D, even (default C / H; only qwen3/llama may differ)"),
  ropeTheta: z.number().positive().default(10000).describe("rope_theta: RoPE base"),
  rmsEps: z.number().positive().default(1e-6).describe("rms_norm_eps"),
  tieEmbeddings: z.boolean().default(false).describe("tie_word_embeddings: lm_head is embed_tokens"),
  maxPositions: posInt
    .optional()
    .describe("max_position_embeddings (default 32768 for qwen, 2048 for llama)"),
  bosTokenId: tokenId.nullable().default(null).describe("bos_token_id"),
  eosTokenIds: z.array(tokenId).default([]).describe("eos_token_id, always a list here"),
  torchDtype: z
    .enum(["float32", "float16", "bfloat16"])
    .nullable()
    .default(null)
    .describe("torch_dtype: the dtype the weights were saved in"),
  attentionBias: z.boolean().default(false).describe("attention_bias (llama, qwen3): q/k/v/o biases"),
  ropeScaling: RopeScaling.nullable().default(null).describe("rope_scaling: null, linear or llama3"),
  extra: z
    .record(z.string(), z.unknown())
    .default({})
    .describe("other config.json fields, written back as read"),
});

/**
 * The typed model config. Parse inputs with `modelConfig()`; the derived fields
 * `qkvBias`, `oBias`, `qkNorm` say which tensors a layer has.
 */
export const ModelConfig = ModelConfigFields.transform((c) => ({
  ...c,
  kvHeads: c.kvHeads ?? c.heads,
  headDim: c.headDim ?? c.hidden / c.heads,
  maxPositions: c.maxPositions ?? (c.arch === "llama" ? 2048 : 32768),
  attentionBias: c.arch === "qwen2" ? false : c.attentionBias,
  /** q_proj, k_proj, v_proj have biases (always in qwen2). */
  qkvBias: c.arch === "qwen2" || c.attentionBias,
  /** o_proj has a bias (attention_bias in llama and qwen3). */
  oBias: c.arch !== "qwen2" && c.attentionBias,
  /** q_norm and k_norm ([D] RMSNorm weights per layer). */
  qkNorm: c.arch === "qwen3",
}));
export type ModelConfig = z.output<typeof ModelConfig>;
export type ModelConfigInput = z.input<typeof ModelConfig>;

/** Parses and checks a config (shape consistency); `source` names it in errors. */
export function modelConfig(input: ModelConfigInput, source = "model config"): ModelConfig {
  const r = ModelConfig.safeParse(input);
  if (!r.success) throw new Error(zodMessage(source, r.error, input));
  const c = r.data;
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  if (input.arch === "qwen2" && input.attentionBias)
    fail("field attention_bias (attentionBias) is fixed in qwen2 (q/k/v biases, none on o_proj)");
  if (!Number.isInteger(c.headDim))
    fail(`field hidden_size (hidden) ${c.hidden} is not divisible by num_attention_heads (heads) ${c.heads}`);
  if (c.headDim % 2 !== 0) fail(`field head_dim (headDim) ${c.headDim} must be even for rotary embeddings`);
  if (c.arch === "qwen2" && c.headDim * c.heads !== c.hidden)
    fail(`field head_dim (headDim) ${c.headDim} must be hidden_size / num_attention_heads in qwen2`);
  if (c.heads % c.kvHeads !== 0)
    fail(`field num_key_value_heads (kvHeads) ${c.kvHeads} does not divide num_attention_heads ${c.heads}`);
  const s = c.ropeScaling;
  if (s?.type === "llama3" && !(s.highFreqFactor > s.lowFreqFactor))
    fail(
      `field rope_scaling.high_freq_factor ${s.highFreqFactor} must exceed low_freq_factor ${s.lowFreqFactor}`,
    );
  return c;
}

/** A zod error as one line: the source, the field path, the value found and the complaint. */
export function zodMessage(source: string, error: z.ZodError, input: unknown): string {
  const parts = error.issues.map((issue) => {
    let value: unknown = input;
    for (const k of issue.path)
      value = (value as Record<PropertyKey, unknown> | undefined)?.[k as PropertyKey];
    const field = issue.path.join(".") || "(root)";
    return `field ${field} = ${JSON.stringify(value) ?? "undefined"}: ${issue.message}`;
  });
  return `${source}: ${parts.join("; ")}`;
}

/**
 * config.json as read: the fields reasonrl uses, checked; all others kept.
 * Supported values are checked after parsing (see `fromHfConfig`).
 */
export const HfConfigJson = z.looseObject({
  architectures: z.array(z.string()).min(1),
  model_type: z.string().optional(),
  vocab_size: posInt,
  hidden_size: posInt,
  intermediate_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  num_key_value_heads: posInt.nullable().optional(),
  head_dim: posInt.nullable().optional(),
  hidden_act: z.string().optional(),
  rope_theta: z.number().positive().optional(),
  rms_norm_eps: z.number().positive().optional(),
  tie_word_embeddings: z.boolean().optional(),
  max_position_embeddings: posInt.optional(),
  bos_token_id: tokenId.nullable().optional(),
  eos_token_id: z
    .union([tokenId, z.array(tokenId)])
    .nullable()
    .optional(),
  torch_dtype: z.string().nullable().optional(),
  dtype: z.string().nullable().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  use_sliding_window: z.boolean().optional(),
  use_mrope: z.boolean().optional(),
  rope_scaling: z.record(z.string(), z.unknown()).nullable().optional(),
  rope_parameters: z.record(z.string(), z.unknown()).nullable().optional(),
});

/** Fields turned into ModelConfig fields or checked to be fixed (hidden_act); the rest go to `extra`. */
const MAPPED = new Set([
  "architectures",
  "model_type",
  "vocab_size",
  "hidden_size",
  "intermediate_size",
  "num_hidden_layers",
  "num_attention_heads",
  "num_key_value_heads",
  "head_dim",
  "hidden_act",
  "rope_theta",
  "rms_norm_eps",
  "tie_word_embeddings",
  "max_position_embeddings",
  "bos_token_id",
  "eos_token_id",
  "torch_dtype",
  "dtype",
  "rope_scaling",
  "rope_parameters",
]);

/** A parsed config.json object -> ModelConfig; errors name `file`, the field and its value. */
export function fromHfConfig(json: unknown, file = "config.json"): ModelConfig {
  const r = HfConfigJson.safeParse(json);
  if (!r.success) throw new Error(zodMessage(file, r.error, json));
  const j = r.data;
  const fail = (field: string, value: unknown, why: string): never => {
    throw new Error(`${file}: field ${field} = ${JSON.stringify(value)}: ${why}`);
  };
  const classes = Object.values(ARCH_CLASSES) as string[];
  if (j.architectures.length !== 1 || !classes.includes(j.architectures[0]))
    fail("architectures", j.architectures, `not supported (reasonrl supports one of ${classes.join(", ")})`);
  const arch = (Object.keys(ARCH_CLASSES) as Arch[]).find(
    (a) => ARCH_CLASSES[a] === j.architectures[0],
  ) as Arch;
  if (j.model_type !== undefined && j.model_type !== arch)
    fail(
      "model_type",
      j.model_type,
      `does not match architectures ${j.architectures[0]} (expected "${arch}")`,
    );
  if (j.hidden_act !== undefined && j.hidden_act !== "silu")
    fail("hidden_act", j.hidden_act, "only silu is supported");
  if (j.mlp_bias) fail("mlp_bias", j.mlp_bias, "MLP biases are not supported");
  if (j.use_sliding_window)
    fail("use_sliding_window", j.use_sliding_window, "sliding-window attention is not supported");
  if (j.use_mrope) fail("use_mrope", j.use_mrope, "multimodal RoPE is not supported");
  const dtype = j.torch_dtype ?? j.dtype ?? null;
  if (dtype !== null && !["float32", "float16", "bfloat16"].includes(dtype))
    fail(j.torch_dtype != null ? "torch_dtype" : "dtype", dtype, "not float32, float16 or bfloat16");

  // transformers >= 5 may hold theta and scaling in rope_parameters instead
  const params = j.rope_parameters ?? null;
  const theta = j.rope_theta ?? (typeof params?.rope_theta === "number" ? params.rope_theta : undefined);
  const scaling = j.rope_scaling ?? (params ? { ...params, rope_theta: undefined } : null);
  const scalingField = j.rope_scaling ? "rope_scaling" : "rope_parameters";

  const extra = Object.fromEntries(
    Object.entries(j).filter(([k]) => !MAPPED.has(k) && k !== "attention_bias"),
  );
  if (arch === "qwen2" && j.attention_bias !== undefined) extra.attention_bias = j.attention_bias;
  const eos = j.eos_token_id;
  return modelConfig(
    {
      arch,
      vocabSize: j.vocab_size,
      hidden: j.hidden_size,
      ffn: j.intermediate_size,
      layers: j.num_hidden_layers,
      heads: j.num_attention_heads,
      kvHeads: j.num_key_value_heads ?? undefined,
      headDim: j.head_dim ?? undefined,
      ropeTheta: theta,
      rmsEps: j.rms_norm_eps,
      tieEmbeddings: j.tie_word_embeddings,
      maxPositions: j.max_position_embeddings,
      bosTokenId: j.bos_token_id ?? null,
      eosTokenIds: eos == null ? [] : Array.isArray(eos) ? eos : [eos],
      torchDtype: dtype as ModelConfig["torchDtype"],
      attentionBias: arch === "qwen2" ? false : (j.attention_bias ?? false),
      ropeScaling: parseRopeScaling(scaling, scalingField, fail),
      extra,
    },
    file,
  );
}

function parseRopeScaling(
  s: Record<string, unknown> | null,
  field: string,
  fail: (field: string, value: unknown, why: string) => never,
): RopeScaling | null {
  if (s === null) return null;
  const type = s.rope_type ?? s.type;
  if (type === undefined || type === "default") return null;
  const num = (key: string): number => {
    const v = s[key];
    if (typeof v !== "number" || !(v > 0)) fail(`${field}.${key}`, v, "must be a positive number");
    return v as number;
  };
  if (type === "linear") return { type: "linear", factor: num("factor") };
  if (type === "llama3")
    return {
      type: "llama3",
      factor: num("factor"),
      lowFreqFactor: num("low_freq_factor"),
      highFreqFactor: num("high_freq_factor"),
      originalMaxPositions: num("original_max_position_embeddings"),
    };
  return fail(
    `${field}.rope_type`,
    type,
    "RoPE scaling of this type is not supported (only linear and llama3)",
  );
}

/** ModelConfig -> a config.json object (keys sorted, as transformers writes them). */
export function toHfConfig(c: ModelConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...c.extra,
    hidden_act: "silu",
    architectures: [ARCH_CLASSES[c.arch]],
    model_type: c.arch,
    vocab_size: c.vocabSize,
    hidden_size: c.hidden,
    intermediate_size: c.ffn,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    rope_theta: c.ropeTheta,
    rms_norm_eps: c.rmsEps,
    tie_word_embeddings: c.tieEmbeddings,
    max_position_embeddings: c.maxPositions,
    bos_token_id: c.bosTokenId,
    eos_token_id:
      c.eosTokenIds.length === 0 ? null : c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds,
    rope_scaling: ropeScalingJson(c.ropeScaling),
  };
  if (c.arch !== "qwen2") {
    out.head_dim = c.headDim;
    out.attention_bias = c.attentionBias;
  }
  if (c.torchDtype !== null) out.torch_dtype = c.torchDtype;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function ropeScalingJson(s: RopeScaling | null): Record<string, unknown> | null {
  if (s === null) return null;
  if (s.type === "linear") return { factor: s.factor, rope_type: "linear", type: "linear" };
  return {
    factor: s.factor,
    high_freq_factor: s.highFreqFactor,
    low_freq_factor: s.lowFreqFactor,
    original_max_position_embeddings: s.originalMaxPositions,
    rope_type: "llama3",
  };
}

/** Reads and parses a config.json file. */
export async function readHfConfig(path: string): Promise<ModelConfig> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, "utf8"));
  } catch (e) {
    throw new Error(`${path}: cannot read config: ${(e as Error).message}`);
  }
  return fromHfConfig(json, path);
}

/** Writes a config.json file atomically (2-space JSON, trailing newline). */
export async function writeHfConfig(path: string, config: ModelConfig): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(toHfConfig(config), null, 2)}\n`);
}

/**
 * Per-frequency divisors of RoPE for this config, or null without scaling.
 * Rotary pair i (of D/2) turns at inv_freq_i = theta^(-2i/D) / divisor_i per
 * position. This is the `freq_factors` tensor of ggml's rope_ext (llama.cpp's
 * `rope_freqs`). linear: every divisor is `factor`. llama3: pairs whose
 * wavelength 2π/inv_freq exceeds original/low_freq_factor get `factor`, those
 * under original/high_freq_factor get 1, and between them the inverse
 * frequency is interpolated (as transformers' `_compute_llama3_parameters`).
 */
export function ropeFrequencyDivisors(c: ModelConfig): Float32Array | null {
  const s = c.ropeScaling;
  if (s === null) return null;
  const half = c.headDim / 2;
  const out = new Float32Array(half);
  if (s.type === "linear") return out.fill(s.factor);
  const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositions / s.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const invFreq = c.ropeTheta ** (-(2 * i) / c.headDim);
    const wavelen = (2 * Math.PI) / invFreq;
    let scaled: number;
    if (wavelen < highWavelen) scaled = invFreq;
    else if (wavelen > lowWavelen) scaled = invFreq / s.factor;
    else {
      const smooth =
        (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      scaled = (1 - smooth) * (invFreq / s.factor) + smooth * invFreq;
    }
    out[i] = invFreq / scaled;
  }
  return out;
}
