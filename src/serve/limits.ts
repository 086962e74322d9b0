/** What a request may ask of the model, checked before anything is queued. */
import { ApiError } from "./errors.ts";
import { type GenerationParams, MAX_SEQUENCES } from "./schemas.ts";
import type { ServedModel } from "./served-model.ts";

/**
 * Checks that every prompt and its completion fit the context, and that the request does not
 * start too many sequences. `param` names the prompt field in errors ("prompt" or "messages").
 */
export function checkLimits(
  model: ServedModel,
  prompts: readonly Int32Array[],
  params: GenerationParams,
  param: string,
): void {
  const sequences = prompts.length * params.n;
  if (sequences > MAX_SEQUENCES)
    throw ApiError.invalid(
      "n",
      `${prompts.length} prompts x n ${params.n} exceed ${MAX_SEQUENCES} sequences`,
    );
  const context = model.contextLength;
  for (const p of prompts) {
    if (p.length === 0) throw ApiError.invalid(param, "the prompt is empty (no tokens)");
    for (const id of p) {
      if (id >= model.vocabSize)
        throw ApiError.invalid(param, `token id ${id} is outside the vocabulary (${model.vocabSize})`);
    }
    const completion = params.maxTokens ?? 1;
    if (p.length + completion > context) {
      throw ApiError.invalid(
        params.maxTokens === null ? param : "max_tokens",
        `This model's maximum context length is ${context} tokens. However, you requested ` +
          `${p.length + completion} tokens (${p.length} in the ${param}, ${completion} in the completion). ` +
          `Please reduce the length of the ${param} or completion.`,
        "context_length_exceeded",
      );
    }
  }
}
