/**
 * generation_config.json: the default sampling settings and stop tokens a
 * model folder ships with (e.g. DeepSeek-R1-Distill: do_sample, temperature
 * 0.6, top_p 0.95, eos 151643). Read into a typed `GenerationConfig`, written
 * back with the fields reasonrl does not use kept as they were.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { type ModelConfig, zodMessage } from "./hf-config.ts";
import { writeFileAtomic } from "./safetensors-write.ts";

const tokenId = z.number().int().nonnegative();

/** generation_config.json as read: the fields reasonrl uses, checked; all others kept. */
export const HfGenerationConfigJson = z.looseObject({
  bos_token_id: tokenId.nullable().optional(),
  eos_token_id: z
    .union([tokenId, z.array(tokenId)])
    .nullable()
    .optional(),
  pad_token_id: tokenId.nullable().optional(),
  do_sample: z.boolean().optional(),
  temperature: z.number().nonnegative().optional(),
  top_p: z.number().gt(0).lte(1).optional(),
  top_k: z.number().int().nonnegative().optional(),
  min_p: z.number().min(0).lte(1).nullable().optional(),
  max_new_tokens: z.number().int().positive().nullable().optional(),
  repetition_penalty: z.number().positive().optional(),
});

/** Typed generation defaults; a field left undefined is absent from the file. */
export const GenerationConfig = z.object({
  bosTokenId: tokenId.nullable().optional().describe("bos_token_id"),
  eosTokenIds: z.array(tokenId).optional().describe("eos_token_id, always a list here: any of them stops"),
  padTokenId: tokenId.nullable().optional().describe("pad_token_id"),
  doSample: z.boolean().optional().describe("do_sample: false means greedy"),
  temperature: z.number().nonnegative().optional().describe("temperature"),
  topP: z.number().gt(0).lte(1).optional().describe("top_p: nucleus sampling mass"),
  topK: z.number().int().nonnegative().optional().describe("top_k: 0 means off"),
  minP: z.number().min(0).lte(1).nullable().optional().describe("min_p"),
  maxNewTokens: z.number().int().positive().nullable().optional().describe("max_new_tokens"),
  repetitionPenalty: z.number().positive().optional().describe("repetition_penalty"),
  extra: z.record(z.string(), z.unknown()).default({}).describe("other fields, written back as read"),
});
export type GenerationConfig = z.output<typeof GenerationConfig>;
export type GenerationConfigInput = z.input<typeof GenerationConfig>;

const FIELDS: ReadonlyArray<readonly [keyof GenerationConfig, string]> = [
  ["bosTokenId", "bos_token_id"],
  ["eosTokenIds", "eos_token_id"],
  ["padTokenId", "pad_token_id"],
  ["doSample", "do_sample"],
  ["temperature", "temperature"],
  ["topP", "top_p"],
  ["topK", "top_k"],
  ["minP", "min_p"],
  ["maxNewTokens", "max_new_tokens"],
  ["repetitionPenalty", "repetition_penalty"],
];

/** A parsed generation_config.json object -> GenerationConfig; errors name `file`, field and value. */
export function fromHfGenerationConfig(json: unknown, file = "generation_config.json"): GenerationConfig {
  const r = HfGenerationConfigJson.safeParse(json);
  if (!r.success) throw new Error(zodMessage(file, r.error, json));
  const j = r.data as Record<string, unknown>;
  const out: Record<string, unknown> = { extra: {} };
  const hfNames = new Set(FIELDS.map(([, hf]) => hf));
  for (const [ours, hf] of FIELDS) if (j[hf] !== undefined) out[ours] = j[hf];
  const eos = j.eos_token_id;
  if (eos !== undefined) out.eosTokenIds = eos === null ? [] : Array.isArray(eos) ? eos : [eos];
  out.extra = Object.fromEntries(Object.entries(j).filter(([k]) => !hfNames.has(k)));
  return GenerationConfig.parse(out);
}

/** GenerationConfig -> a generation_config.json object (keys sorted). */
export function toHfGenerationConfig(g: GenerationConfigInput): Record<string, unknown> {
  const c = GenerationConfig.parse(g);
  const out: Record<string, unknown> = { ...c.extra };
  for (const [ours, hf] of FIELDS) if (c[ours] !== undefined) out[hf] = c[ours];
  if (c.eosTokenIds !== undefined)
    out.eos_token_id =
      c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds.length ? c.eosTokenIds : null;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The generation config implied by a model config: its bos and eos tokens, nothing else. */
export function generationConfigFor(config: ModelConfig): GenerationConfig {
  return GenerationConfig.parse({ bosTokenId: config.bosTokenId, eosTokenIds: config.eosTokenIds });
}

/** Reads and parses a generation_config.json file. */
export async function readGenerationConfig(path: string): Promise<GenerationConfig> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, "utf8"));
  } catch (e) {
    throw new Error(`${path}: cannot read generation config: ${(e as Error).message}`);
  }
  return fromHfGenerationConfig(json, path);
}

/** Writes a generation_config.json file atomically. */
export async function writeGenerationConfig(path: string, g: GenerationConfigInput): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(toHfGenerationConfig(g), null, 2)}\n`);
}
