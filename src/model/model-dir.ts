/**
 * Model folders in the Hugging Face layout: `config.json`, `model.safetensors`
 * (or shards + `model.safetensors.index.json`), `generation_config.json`, and
 * the tokenizer files. The tensor names and shapes each architecture expects,
 * checking a folder against them, saving one atomically, and opening one.
 * Random initialisation is in model-dir-init.ts.
 *
 * Tensor names (shapes outermost first; a Linear weight is [out, in]):
 *   model.embed_tokens.weight                     [V, C]
 *   model.layers.{i}.input_layernorm.weight       [C]
 *   model.layers.{i}.self_attn.q_proj.weight      [H*D, C]    .bias [H*D]   (qkvBias)
 *   model.layers.{i}.self_attn.k_proj.weight      [Hkv*D, C]  .bias [Hkv*D] (qkvBias)
 *   model.layers.{i}.self_attn.v_proj.weight      [Hkv*D, C]  .bias [Hkv*D] (qkvBias)
 *   model.layers.{i}.self_attn.o_proj.weight      [C, H*D]    .bias [C]     (oBias)
 *   model.layers.{i}.self_attn.q_norm.weight      [D]                       (qwen3)
 *   model.layers.{i}.self_attn.k_norm.weight      [D]                       (qwen3)
 *   model.layers.{i}.post_attention_layernorm.weight [C]
 *   model.layers.{i}.mlp.gate_proj.weight         [F, C]
 *   model.layers.{i}.mlp.up_proj.weight           [F, C]
 *   model.layers.{i}.mlp.down_proj.weight         [C, F]
 *   model.norm.weight                             [C]
 *   lm_head.weight                                [V, C]      (absent when tied)
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, rmdir, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { type ModelConfig, readHfConfig, toHfConfig } from "./hf-config.ts";
import {
  type GenerationConfig,
  type GenerationConfigInput,
  generationConfigFor,
  readGenerationConfig,
  toHfGenerationConfig,
} from "./hf-config-generation.ts";
import { numel } from "./safetensors.ts";
import { type FloatDType, isFloatDType, type StDType, toFloat32 } from "./safetensors-dtype.ts";
import {
  INDEX_FILE,
  SafetensorsReader,
  SINGLE_FILE,
  writeSafetensorsSharded,
} from "./safetensors-sharded.ts";
import { exists, writeFileAtomic } from "./safetensors-write.ts";

/** What a tensor is, which decides its initialisation (and e.g. weight decay). */
export type TensorKind = "embedding" | "linear" | "bias" | "norm";

/** A tensor a model folder must hold. */
export interface TensorSpec {
  name: string;
  shape: number[];
  kind: TensorKind;
}

/** A model tensor in memory: F32 as Float32Array, F16/BF16 as Uint16Array bit patterns. */
export interface ModelTensor {
  dtype: FloatDType;
  shape: number[];
  data: Float32Array | Uint16Array;
}

/** Tokenizer files of a Hugging Face folder, copied along when present. */
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "vocab.json",
  "merges.txt",
  "tokenizer.model",
  "chat_template.jinja",
] as const;

/** Every tensor the config's architecture has, in the order transformers defines them. */
export function expectedTensors(c: ModelConfig): TensorSpec[] {
  const { vocabSize: V, hidden: C, heads: H, kvHeads: Hkv, headDim: D, ffn: F } = c;
  const out: TensorSpec[] = [{ name: "model.embed_tokens.weight", shape: [V, C], kind: "embedding" }];
  const add = (name: string, shape: number[], kind: TensorKind) => out.push({ name, shape, kind });
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}`;
    add(`${p}.input_layernorm.weight`, [C], "norm");
    for (const [proj, rows] of [
      ["q_proj", H * D],
      ["k_proj", Hkv * D],
      ["v_proj", Hkv * D],
    ] as const) {
      add(`${p}.self_attn.${proj}.weight`, [rows, C], "linear");
      if (c.qkvBias) add(`${p}.self_attn.${proj}.bias`, [rows], "bias");
    }
    add(`${p}.self_attn.o_proj.weight`, [C, H * D], "linear");
    if (c.oBias) add(`${p}.self_attn.o_proj.bias`, [C], "bias");
    if (c.qkNorm) {
      add(`${p}.self_attn.q_norm.weight`, [D], "norm");
      add(`${p}.self_attn.k_norm.weight`, [D], "norm");
    }
    add(`${p}.post_attention_layernorm.weight`, [C], "norm");
    add(`${p}.mlp.gate_proj.weight`, [F, C], "linear");
    add(`${p}.mlp.up_proj.weight`, [F, C], "linear");
    add(`${p}.mlp.down_proj.weight`, [C, F], "linear");
  }
  add("model.norm.weight", [C], "norm");
  if (!c.tieEmbeddings) add("lm_head.weight", [V, C], "linear");
  return out;
}

/** Parameters of a model with this config (tied embeddings counted once). */
export function parameterCount(c: ModelConfig): number {
  return expectedTensors(c).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}

/** Differences between the tensors expected and those found. */
export interface TensorDiff {
  missing: TensorSpec[];
  unexpected: Array<{ name: string; shape: number[]; dtype: string }>;
  misShaped: Array<{ name: string; expected: number[]; actual: number[] }>;
  /** Tensors whose dtype is not F32, F16 or BF16. */
  badDtype: Array<{ name: string; dtype: string }>;
}

/** Compares expected tensors with found ones (name, shape, dtype). */
export function diffTensors(
  expected: readonly TensorSpec[],
  found: Iterable<{ name: string; shape: readonly number[]; dtype: string }>,
): TensorDiff {
  const want = new Map(expected.map((t) => [t.name, t]));
  const seen = new Set<string>();
  const diff: TensorDiff = { missing: [], unexpected: [], misShaped: [], badDtype: [] };
  for (const t of found) {
    seen.add(t.name);
    const spec = want.get(t.name);
    if (!spec) diff.unexpected.push({ name: t.name, shape: [...t.shape], dtype: t.dtype });
    else if (spec.shape.length !== t.shape.length || spec.shape.some((d, i) => d !== t.shape[i]))
      diff.misShaped.push({ name: t.name, expected: spec.shape, actual: [...t.shape] });
    if (spec && !isFloatDType(t.dtype)) diff.badDtype.push({ name: t.name, dtype: t.dtype });
  }
  for (const spec of expected) if (!seen.has(spec.name)) diff.missing.push(spec);
  return diff;
}

/** The problems of a diff, one per line ("" when there are none). */
export function formatTensorDiff(d: TensorDiff): string {
  return [
    ...d.missing.map((t) => `missing tensor ${t.name} [${t.shape}]`),
    ...d.unexpected.map((t) => `unexpected tensor ${t.name} [${t.shape}] ${t.dtype}`),
    ...d.misShaped.map((t) => `tensor ${t.name} has shape [${t.actual}], expected [${t.expected}]`),
    ...d.badDtype.map((t) => `tensor ${t.name} has dtype ${t.dtype}, expected F32, F16 or BF16`),
  ].join("\n");
}

/** What `checkModelDir` found. */
export interface ModelDirReport extends TensorDiff {
  dir: string;
  config: ModelConfig;
  /** Weight files (paths) read. */
  files: string[];
  /** No missing, unexpected, mis-shaped or non-float tensors. */
  ok: boolean;
}

/**
 * Reads `dir/config.json` and the safetensors header(s) (not the data) and
 * reports missing, unexpected, mis-shaped and non-float tensors by name.
 * Throws when the config or a weight file cannot be read or is invalid.
 */
export async function checkModelDir(dir: string): Promise<ModelDirReport> {
  const config = await readHfConfig(join(dir, "config.json"));
  const weights = await SafetensorsReader.open(dir);
  try {
    const diff = diffTensors(expectedTensors(config), weights.entries());
    const ok =
      !diff.missing.length && !diff.unexpected.length && !diff.misShaped.length && !diff.badDtype.length;
    return { dir, config, files: weights.files.map((f) => f.path), ...diff, ok };
  } finally {
    await weights.close();
  }
}

/** An opened model folder. Call `close()` when done with the weights. */
export interface ModelDir {
  dir: string;
  config: ModelConfig;
  /** null when the folder has no generation_config.json. */
  generation: GenerationConfig | null;
  /** Tensors read on demand (single file or shards). */
  weights: SafetensorsReader;
  close(): Promise<void>;
}

/** Opens a model folder: config, generation config, and its weights (headers only until read). */
export async function openModelDir(dir: string): Promise<ModelDir> {
  const config = await readHfConfig(join(dir, "config.json"));
  const genPath = join(dir, "generation_config.json");
  const generation = (await exists(genPath)) ? await readGenerationConfig(genPath) : null;
  const weights = await SafetensorsReader.open(dir);
  return { dir, config, generation, weights, close: () => weights.close() };
}

/** Options of `saveModelDir`. */
export interface SaveModelOptions {
  /** Stored dtype of every tensor (default: each tensor's own); also sets torch_dtype. */
  dtype?: FloatDType;
  /** Largest shard in bytes (default: one model.safetensors). */
  maxShardBytes?: number;
  /** generation_config.json contents (default: the config's bos and eos). */
  generation?: GenerationConfigInput;
  /** Files copied into the folder under their own names (e.g. tokenizer files, see TOKENIZER_FILES). */
  copyFiles?: readonly string[];
  /** Further files by name: text or bytes. */
  files?: Readonly<Record<string, string | Uint8Array>>;
  /** Replace an existing non-empty folder (default false: an error). */
  overwrite?: boolean;
}

const TORCH_DTYPE = { F32: "float32", F16: "float16", BF16: "bfloat16" } as const;

/**
 * Writes a complete model folder: config.json, weights (one file or shards +
 * index), generation_config.json and any given files. Everything is written
 * into a temporary sibling folder first, which then takes the place of `dir`
 * by rename, so `dir` never holds a half-written model. The tensors must be
 * exactly those of `expectedTensors(config)`, with their shapes.
 */
export async function saveModelDir(
  dir: string,
  config: ModelConfig,
  tensors: ReadonlyMap<string, ModelTensor>,
  options: SaveModelOptions = {},
): Promise<void> {
  const specs = expectedTensors(config);
  const problems = formatTensorDiff(
    diffTensors(
      specs,
      [...tensors].map(([name, t]) => ({ name, shape: t.shape, dtype: t.dtype })),
    ),
  );
  if (problems) throw new Error(`saveModelDir ${dir}: tensors do not match the config:\n${problems}`);
  for (const [name, t] of tensors)
    if (t.data.length !== numel(t.shape))
      throw new Error(
        `saveModelDir ${dir}: tensor ${name} has ${t.data.length} elements for shape [${t.shape}]`,
      );
  const names = new Set(Object.keys(options.files ?? {}));
  for (const f of options.copyFiles ?? []) names.add(basename(f));
  for (const n of names)
    if (
      n !== basename(n) ||
      n === "config.json" ||
      n === "generation_config.json" ||
      /^model.*\.safetensors/.test(n)
    )
      throw new Error(`saveModelDir ${dir}: extra file ${JSON.stringify(n)} is reserved or not a plain name`);

  const target = resolve(dir);
  await checkTarget(target, options.overwrite ?? false);
  const dtypes = new Set([...tensors.values()].map((t) => t.dtype));
  const stored = options.dtype ?? (dtypes.size === 1 ? [...dtypes][0] : undefined);
  const torchDtype = stored ? TORCH_DTYPE[stored] : config.torchDtype;

  const tmp = join(
    dirname(target),
    `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`,
  );
  await mkdir(tmp);
  try {
    await writeFileAtomic(
      join(tmp, "config.json"),
      `${JSON.stringify(toHfConfig({ ...config, torchDtype }), null, 2)}\n`,
    );
    const generation = options.generation ?? generationConfigFor(config);
    await writeFileAtomic(
      join(tmp, "generation_config.json"),
      `${JSON.stringify(toHfGenerationConfig(generation), null, 2)}\n`,
    );
    const ordered = specs.map((s) => {
      const t = tensors.get(s.name) as ModelTensor;
      return [s.name, storedTensor(t, stored ?? t.dtype)] as const;
    });
    await writeSafetensorsSharded(tmp, ordered, { maxShardBytes: options.maxShardBytes });
    // every file is flushed to disk before the folder is renamed into place
    for (const f of options.copyFiles ?? []) await writeFileAtomic(join(tmp, basename(f)), await readFile(f));
    for (const [name, content] of Object.entries(options.files ?? {}))
      await writeFileAtomic(join(tmp, name), content);
    await replaceDir(tmp, target, options.overwrite ?? false);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** A tensor's data in the form `writeSafetensors` takes for dtype `to`. */
function storedTensor(
  t: ModelTensor,
  to: FloatDType,
): { dtype: StDType; shape: number[]; data: Float32Array | Uint16Array } {
  if (t.dtype === to) return t;
  // f32 data is converted by the writer, in chunks; 16-bit data goes through f32
  const f32 = t.dtype === "F32" ? t.data : toFloat32(t.dtype, t.data);
  return { dtype: to, shape: t.shape, data: f32 };
}

async function checkTarget(target: string, overwrite: boolean): Promise<void> {
  const st = await stat(target).catch(() => null);
  if (!st) return;
  if (!st.isDirectory()) throw new Error(`saveModelDir ${target}: exists and is not a folder`);
  if (!overwrite && (await readdir(target)).length > 0)
    throw new Error(
      `saveModelDir ${target}: folder exists and is not empty (pass overwrite: true to replace it)`,
    );
}

/** Puts folder `tmp` in the place of `target` by renames; an old `target` is removed after. */
async function replaceDir(tmp: string, target: string, overwrite: boolean): Promise<void> {
  await checkTarget(target, overwrite);
  const st = await stat(target).catch(() => null);
  if (!st) return rename(tmp, target);
  if ((await readdir(target)).length === 0) {
    await rmdir(target);
    return rename(tmp, target);
  }
  const old = join(
    dirname(target),
    `.${basename(target)}.old-${process.pid}-${randomBytes(4).toString("hex")}`,
  );
  await rename(target, old);
  try {
    await rename(tmp, target);
  } catch (e) {
    await rename(old, target);
    throw e;
  }
  await rm(old, { recursive: true, force: true });
}

/** The tokenizer files (TOKENIZER_FILES) present in `dir`, as paths, e.g. to pass as `copyFiles`. */
export async function tokenizerFilesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of TOKENIZER_FILES) if (await exists(join(dir, f))) out.push(join(dir, f));
  return out;
}

/** True when `dir` holds weights (an index or model.safetensors) and a config. */
export async function isModelDir(dir: string): Promise<boolean> {
  return (
    (await exists(join(dir, "config.json"))) &&
    ((await exists(join(dir, INDEX_FILE))) || (await exists(join(dir, SINGLE_FILE))))
  );
}
