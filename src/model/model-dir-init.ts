/**
 * Random initialisation of a model's weights, for tests and from-scratch tiny
 * models: linear and embedding weights N(0, 0.02²), norms 1, biases 0, from a
 * seeded generator.
 */
import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ModelConfig } from "./hf-config.ts";
import { expectedTensors, type ModelTensor, saveModelDir, TOKENIZER_FILES } from "./model-dir.ts";
import { gaussian } from "./random.ts";
import { numel } from "./safetensors.ts";
import { type FloatDType, f32ToBf16, f32ToF16 } from "./safetensors-dtype.ts";
import { exists } from "./safetensors-write.ts";

/**
 * Random weights for the config, as `dtype` (default F32): linear and
 * embedding weights from N(0, 0.02²), norms 1, biases 0. Deterministic in
 * `seed`: one generator (xoshiro128** seeded by splitmix32, Box-Muller
 * normals) draws the tensors in `expectedTensors` order. F16/BF16 tensors are
 * converted one at a time, so a real-shaped model never exists in f32 at once.
 */
export function initRandomModel(
  config: ModelConfig,
  seed = 0,
  dtype: FloatDType = "F32",
): Map<string, ModelTensor> {
  const normal = gaussian(seed);
  const out = new Map<string, ModelTensor>();
  for (const spec of expectedTensors(config)) {
    const data = new Float32Array(numel(spec.shape));
    if (spec.kind === "norm") data.fill(1);
    else if (spec.kind !== "bias") for (let i = 0; i < data.length; i++) data[i] = 0.02 * normal();
    if (dtype === "F32") out.set(spec.name, { dtype, shape: spec.shape, data });
    else
      out.set(spec.name, { dtype, shape: spec.shape, data: (dtype === "F16" ? f32ToF16 : f32ToBf16)(data) });
  }
  return out;
}

/** What `createRandomModelDir` needs: a config and where the tokenizer files come from. */
export interface RandomModelDirOptions {
  config: ModelConfig;
  /** A folder with tokenizer.json (and tokenizer_config.json), or a tokenizer.json path; copied along. */
  tokenizerFrom?: string;
  seed?: number;
  /** Stored dtype of every tensor (default F32). */
  dtype?: FloatDType;
  overwrite?: boolean;
}

/** Writes a randomly initialised model folder in the Hugging Face layout (`reasonrl model init`). */
export async function createRandomModelDir(dir: string, options: RandomModelDirOptions): Promise<void> {
  const copyFiles: string[] = [];
  if (options.tokenizerFrom) {
    const from = (await stat(options.tokenizerFrom)).isDirectory()
      ? options.tokenizerFrom
      : dirname(options.tokenizerFrom);
    for (const f of TOKENIZER_FILES) if (await exists(join(from, f))) copyFiles.push(join(from, f));
  }
  const dtype = options.dtype ?? "F32";
  await saveModelDir(dir, options.config, initRandomModel(options.config, options.seed ?? 0, dtype), {
    copyFiles,
    dtype,
    overwrite: options.overwrite,
  });
}
