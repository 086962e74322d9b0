/** What a request may ask of the model, checked before anything is queued. */
import { ApiError } from "./errors.ts";
import { type GenerationParams, MAX_SEQUENCES } from "./schemas.ts";
import type { ServedModel } from "./served-model.ts";

/** The request's names for its prompt ("prompt", "messages") and its completion limit ("max_tokens", ...). */
export interface LimitFields {
  prompt: string;
  maxTokens: string;
}

/**
 * Checks that every prompt and its completion fit the context, and that the request does not
 * start too many sequences. An error names the field to change: the prompt's when the prompt
 * alone leaves no room for a completion, the completion limit's when the two together overflow.
 */
export function checkLimits(
  model: ServedModel,
  prompts: readonly Int32Array[],
  params: GenerationParams,
  fields: LimitFields,
): void {
  const sequences = prompts.length * params.n;
  if (sequences > MAX_SEQUENCES)
    throw ApiError.invalid(
      "n",
      `${prompts.length} prompts x n ${params.n} exceed ${MAX_SEQUENCES} sequences`,
    );
  const context = model.contextLength;
  const { prompt: param, maxTokens: limit } = fields;
  for (const p of prompts) {
    if (p.length === 0) throw ApiError.invalid(param, "the prompt is empty (no tokens)");
    for (const id of p) {
      if (id >= model.vocabSize)
        throw ApiError.invalid(param, `token id ${id} is outside the vocabulary (${model.vocabSize})`);
    }
    if (p.length >= context)
      throw ApiError.invalid(
        param,
        `This model's maximum context length is ${context} tokens, and your ${param} resulted in ` +
          `${p.length} tokens, which leaves no room for a completion. Please shorten the ${param}.`,
        "context_length_exceeded",
      );
    if (params.maxTokens !== null && p.length + params.maxTokens > context)
      throw ApiError.invalid(
        limit,
        `This model's maximum context length is ${context} tokens. However, you requested ` +
          `${p.length + params.maxTokens} tokens (${p.length} in the ${param}, ${params.maxTokens} in ` +
          `${limit}). Please set ${limit} to at most ${context - p.length} or shorten the ${param}.`,
        "context_length_exceeded",
      );
  }
}
