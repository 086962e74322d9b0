/**
 * Request bodies of /v1/completions and /v1/chat/completions (zod), and the
 * sampling parameters both share, normalised into GenerationParams.
 *
 * Fields follow OpenAI's API, with vLLM's top_k and min_p. Unknown fields are
 * ignored (clients send `user`, `metadata`, ...), but a known field of the
 * wrong type or out of range is a 400 naming it. Features that would change
 * the output and are not implemented (penalties, logit_bias, echo, best_of >
 * n, suffix, tools) are refused rather than silently ignored. `model` names the
 * base or a loaded LoRA adapter (ServedModel.target). Two vLLM extensions let
 * a trainer score exactly the sampled tokens: `return_token_ids` (vLLM v0.10.2,
 * vllm-project/vllm#22587: each choice's `token_ids`, and the prompt's
 * `prompt_token_ids`) and `return_tokens_as_token_ids` (log-prob tokens written
 * "token_id:123", so tokens that are not whole characters stay identifiable).
 */
import { z } from "zod";
import { ApiError, fromZodError } from "./errors.ts";

/** Most samples per prompt (OpenAI's own limit is 128; 64 keeps one request within a batch). */
export const MAX_N = 64;

/** Most sequences (prompts x n) one request may start. */
export const MAX_SEQUENCES = 1024;

/** Most top log-probs per token (OpenAI's limit). */
export const MAX_TOP_LOGPROBS = 20;

const TokenIds = z.array(z.number().int().min(0)).min(1);

const Stop = z.union([z.string(), z.array(z.string()).max(16)], {
  error: "stop must be a string or a list of at most 16 strings",
});

/** Fields accepted only at their neutral value. */
const unsupported = (neutral: unknown, what: string) =>
  z
    .unknown()
    .refine((v) => v === null || v === neutral, { message: `${what} is not supported` })
    .optional();

/** Sampling fields shared by both endpoints. */
const Sampling = {
  model: z.string().nullish(),
  n: z.number().int().min(1).max(MAX_N).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(-1).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  max_tokens: z.number().int().min(1).nullish(),
  stop: Stop.nullish(),
  seed: z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  presence_penalty: unsupported(0, "presence_penalty other than 0"),
  frequency_penalty: unsupported(0, "frequency_penalty other than 0"),
  logit_bias: z
    .unknown()
    .refine((v) => v === null || (typeof v === "object" && Object.keys(v as object).length === 0), {
      message: "logit_bias is not supported",
    })
    .optional(),
  user: z.string().nullish(),
  return_token_ids: z.boolean().nullish(),
  return_tokens_as_token_ids: z.boolean().nullish(),
};

export const CompletionRequest = z.looseObject({
  ...Sampling,
  prompt: z.union([z.string(), z.array(z.string()).min(1), TokenIds, z.array(TokenIds).min(1)], {
    error: "prompt must be a string, a list of strings, a list of token ids or a list of such lists",
  }),
  /** Top log-probs per token; the sampled token's log-prob is always included when set. */
  logprobs: z.number().int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
  echo: unsupported(false, "echo"),
  suffix: unsupported(undefined, "suffix"),
  best_of: z.number().int().min(1).nullish(),
});
export type CompletionRequest = z.output<typeof CompletionRequest>;

const TextPart = z.object({ type: z.literal("text"), text: z.string() });

const Message = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant"], {
    error: "role must be system, developer, user or assistant (tools are not supported)",
  }),
  content: z.union([z.string(), z.array(TextPart), z.null()], {
    error: "content must be a string or a list of text parts",
  }),
  reasoning_content: z.string().nullish(),
});

export const ChatRequest = z.looseObject({
  ...Sampling,
  messages: z.array(Message).min(1),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
  tools: unsupported(undefined, "tools"),
  tool_choice: unsupported(undefined, "tool_choice"),
  response_format: z
    .unknown()
    .refine((v) => v === null || (v as { type?: unknown }).type === "text", {
      message: "response_format other than text is not supported",
    })
    .optional(),
});
export type ChatRequest = z.output<typeof ChatRequest>;

/** The sampling parameters of a request, with defaults applied. */
export interface GenerationParams {
  n: number;
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  /** New tokens at most; null: as many as the context leaves after each prompt. */
  maxTokens: number | null;
  /** Stop strings (empty ones dropped). */
  stop: string[];
  /** Seed of the per-sequence generators; null: a fresh random one per request. */
  seed: number | null;
  /** Top log-probs per token; null: no log-probs in the response. */
  logprobs: number | null;
  stream: boolean;
  /** Streaming: send a last chunk with the usage counts. */
  includeUsage: boolean;
  /** vLLM's return_token_ids: the prompt's and each choice's token ids in the response. */
  returnTokenIds: boolean;
  /** vLLM's return_tokens_as_token_ids: log-prob tokens as "token_id:N". */
  tokensAsIds: boolean;
}

/** Parses a body with a schema; a 400 naming the first bad field when it does not fit. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw ApiError.invalid(null, "the request body must be a JSON object");
  const r = schema.safeParse(body);
  if (!r.success) throw fromZodError(r.error);
  return r.data;
}

/** The shared sampling fields as GenerationParams (OpenAI's defaults: temperature 1, top_p 1, n 1). */
export function samplingParams(
  body: z.output<z.ZodObject<typeof Sampling>>,
  extra: { maxTokens: number | null; logprobs: number | null },
): GenerationParams {
  const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  return {
    n: body.n ?? 1,
    temperature: body.temperature ?? 1,
    topP: body.top_p ?? 1,
    topK: Math.max(0, body.top_k ?? 0),
    minP: body.min_p ?? 0,
    maxTokens: extra.maxTokens,
    stop: stop.filter((s) => s.length > 0),
    seed: body.seed ?? null,
    logprobs: extra.logprobs,
    stream: body.stream ?? false,
    includeUsage: body.stream_options?.include_usage ?? false,
    returnTokenIds: body.return_token_ids ?? false,
    tokensAsIds: body.return_tokens_as_token_ids ?? false,
  };
}

/** POST /v1/load_lora_adapter (vLLM's LoadLoRAAdapterRequest). */
export const LoadAdapterRequest = z.looseObject({
  lora_name: z.string({ error: "Both 'lora_name' and 'lora_path' must be provided." }).min(1, {
    error: "Both 'lora_name' and 'lora_path' must be provided.",
  }),
  lora_path: z.string({ error: "Both 'lora_name' and 'lora_path' must be provided." }).min(1, {
    error: "Both 'lora_name' and 'lora_path' must be provided.",
  }),
  /** vLLM's swap of an existing adapter's weights: not offered (load a new name, then unload the old). */
  load_inplace: unsupported(false, "load_inplace (load under a new name, then unload the old one)"),
});

/** POST /v1/unload_lora_adapter (vLLM's UnloadLoRAAdapterRequest; adapters are named, so no lora_int_id). */
export const UnloadAdapterRequest = z.looseObject({
  lora_name: z
    .string({ error: "'lora_name' must be provided." })
    .min(1, { error: "'lora_name' must be provided." }),
});
