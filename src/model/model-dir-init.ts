/**
 * Random initialisation of a model's weights, for tests and from-scratch tiny
 * models: linear and embedding weights N(0, 0.02²), norms 1, biases 0, from a
 * seeded generator; and the end-of-sequence ids such a model's config carries
 * (a model without one would never stop generating).
 */
import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { applyChatTemplate } from "./chat-template.ts";
import type { ModelConfig } from "./hf-config.ts";
import { expectedTensors, type ModelTensor, saveModelDir, TOKENIZER_FILES } from "./model-dir.ts";
import { gaussian } from "./random.ts";
import { numel } from "./safetensors.ts";
import { type FloatDType, f32ToBf16, f32ToF16 } from "./safetensors-dtype.ts";
import { exists } from "./safetensors-write.ts";
import type { Tokenizer } from "./tokenizer.ts";

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

/** A reply no template writes by itself: what follows it in a rendered chat ends the assistant's turn. */
const PROBE_REPLY = "reasonrl-end-of-turn-probe";

/**
 * The end-of-sequence ids of a model made for `tokenizer`, and where they come from:
 *
 * 1. the tokenizer's own (tokenizer_config.json's eos_token, generation_config.json's ids);
 * 2. else the special token that ends an assistant turn in its chat template (Qwen's
 *    <|im_end|> when tokenizer_config.json names none): a conversation is rendered and the
 *    first special token after the assistant's reply is taken.
 *
 * Without either it throws, naming `source`: a model made then would never stop generating.
 */
export function endOfSequenceIds(tokenizer: Tokenizer, source: string): { ids: number[]; from: string } {
  if (tokenizer.eosIds.length) return { ids: [...tokenizer.eosIds], from: "the tokenizer's eos_token" };
  const fromTemplate = endOfTurnToken(tokenizer);
  if (fromTemplate !== undefined)
    return { ids: [fromTemplate], from: "the end of an assistant turn in the chat template" };
  throw new Error(
    `${source}: the tokenizer names no end-of-sequence token (no eos_token in tokenizer_config.json, no ` +
      "generation_config.json, no chat template that ends an assistant turn with a special token), so a model " +
      "made from it would never stop generating: name one with --eos <token>",
  );
}

/** The first special token after an assistant's reply in the rendered chat template, if any. */
function endOfTurnToken(tokenizer: Tokenizer): number | undefined {
  let text: string;
  try {
    text = applyChatTemplate(tokenizer, [
      { role: "user", content: "1+1?" },
      { role: "assistant", content: PROBE_REPLY },
    ]).text;
  } catch {
    return undefined; // no chat template, or one that cannot render this conversation
  }
  const at = text.lastIndexOf(PROBE_REPLY);
  if (at < 0) return undefined;
  const tail = tokenizer.encode(text.slice(at + PROBE_REPLY.length), { addSpecialTokens: false });
  // A special token decodes to nothing once special tokens are skipped.
  return [...tail].find(
    (id) =>
      tokenizer.decode([id], { skipSpecialTokens: true }) === "" && tokenizer.decode([id]).trim() !== "",
  );
}
