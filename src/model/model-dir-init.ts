/**
 * Random initialisation of a model's weights, for tests and from-scratch tiny
 * models: linear and embedding weights N(0, 0.02²), norms 1, biases 0, from a
 * seeded generator.
 */
import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ModelConfig } from "./hf-config.ts";
import { expectedTensors, type ModelTensor, saveModelDir, TOKENIZER_FILES } from "./model-dir.ts";
import { numel } from "./safetensors.ts";
import { exists } from "./safetensors-write.ts";

/**
 * Random weights for the config, as F32: linear and embedding weights from
 * N(0, 0.02²), norms 1, biases 0. Deterministic in `seed`: one generator
 * (xoshiro128** seeded by splitmix32, Box-Muller normals) draws the tensors in
 * `expectedTensors` order.
 */
export function initRandomModel(config: ModelConfig, seed = 0): Map<string, ModelTensor> {
  const normal = gaussian(seed);
  const out = new Map<string, ModelTensor>();
  for (const spec of expectedTensors(config)) {
    const data = new Float32Array(numel(spec.shape));
    if (spec.kind === "norm") data.fill(1);
    else if (spec.kind !== "bias") for (let i = 0; i < data.length; i++) data[i] = 0.02 * normal();
    out.set(spec.name, { dtype: "F32", shape: spec.shape, data });
  }
  return out;
}

/** A seeded standard normal generator (xoshiro128** + Box-Muller, both values of each pair used). */
export function gaussian(seed: number): () => number {
  let x = seed >>> 0;
  const splitmix = () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let s0 = splitmix();
  let s1 = splitmix();
  let s2 = splitmix();
  let s3 = splitmix();
  const next = () => {
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return r;
  };
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const v = spare;
      spare = null;
      return v;
    }
    const u1 = (next() + 0.5) / 4294967296; // in (0, 1): log is finite
    const u2 = next() / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1));
    spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };
}

function rotl(v: number, k: number): number {
  return (v << k) | (v >>> (32 - k));
}

/** What `createRandomModelDir` needs: a config and where the tokenizer files come from. */
export interface RandomModelDirOptions {
  config: ModelConfig;
  /** A folder with tokenizer.json (and tokenizer_config.json), or a tokenizer.json path; copied along. */
  tokenizerFrom?: string;
  seed?: number;
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
  await saveModelDir(dir, options.config, initRandomModel(options.config, options.seed ?? 0), {
    copyFiles,
    overwrite: options.overwrite,
  });
}
