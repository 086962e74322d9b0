/**
 * POST /v1/completions: text (or token-id) prompts completed as they are.
 * Choice i * n + j is sample j of prompt i. `logprobs: k` reports each
 * token's log-prob and the k most likely tokens of each step (the sampled one
 * added when it is not among them), under the distribution it was sampled
 * from (temperature applied). A stream still running when a shutdown's grace
 * period ends finishes with "length" (cut short). `model` picks the base or a
 * loaded adapter. With vLLM's `return_token_ids` each choice carries its
 * `token_ids` and its prompt's `prompt_token_ids` (a stream: the ids of each
 * chunk, the prompt's in the choice's first); with `return_tokens_as_token_ids`
 * log-prob tokens are written "token_id:N".
 */
import type { FinishReason } from "../generate/types.ts";
import { generateChoices } from "./batcher.ts";
import type { RequestScope } from "./drain.ts";
import { ApiError, ShutdownError } from "./errors.ts";
import { checkLimits } from "./limits.ts";
import {
  completionTokens,
  jsonLogprob,
  nowSeconds,
  responseId,
  type Step,
  stepsOf,
  usageOf,
} from "./response-parts.ts";
import { CompletionRequest, type GenerationParams, parseBody, samplingParams } from "./schemas.ts";
import type { ServedModel } from "./served-model.ts";
import { sseResponse } from "./sse.ts";

/** OpenAI's default max_tokens for completions. */
const DEFAULT_MAX_TOKENS = 16;

/** The legacy log-probs object of a completion choice (or of one streamed chunk). */
interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Array<Record<string, number>>;
  text_offset: number[];
}

/** Answers one /v1/completions body (JSON, or an SSE stream when `stream`); throws ApiError on bad input. */
export async function completions(model: ServedModel, body: unknown, scope: RequestScope): Promise<Response> {
  const req = parseBody(CompletionRequest, body);
  const target = model.target(req.model); // an unknown model is a 404 before anything else is checked, as vLLM
  const params = samplingParams(req, {
    maxTokens: req.max_tokens ?? DEFAULT_MAX_TOKENS,
    logprobs: req.logprobs ?? null,
  });
  if (req.best_of != null && req.best_of !== params.n)
    throw ApiError.invalid("best_of", "best_of other than n is not supported");
  const prompts = promptIds(model, req.prompt);
  checkLimits(model, prompts, params, { prompt: "prompt", maxTokens: "max_tokens" });
  const head = { id: responseId("cmpl"), object: "text_completion", created: nowSeconds(), model: target.id };
  const promptOf = (index: number) => Array.from(prompts[Math.floor(index / params.n)]);

  if (params.stream) {
    // With include_usage, every chunk carries `usage: null` but the last, which has only the usage.
    const chunk = { ...head, ...(params.includeUsage ? { usage: null } : {}) };
    return sseResponse(scope, async (send, stop) => {
      const offsets = new Map<number, number>();
      let tokens = 0;
      const finished = new Set<number>();
      const started = new Set<number>();
      await generateChoices(model, target, prompts, params, {
        signal: stop,
        cut: scope.drain.cut,
        onToken: (index, event) => {
          tokens++;
          if (event.finishReason) finished.add(index);
          const quiet = params.logprobs === null && event.finishReason === null && !params.returnTokenIds;
          if (event.text === "" && quiet) return;
          const offset = offsets.get(index) ?? 0;
          const logprobs =
            params.logprobs === null ? null : logprobsOf(model, [event], params.logprobs, offset, params);
          offsets.set(index, offset + model.tokenText(event.token).length);
          const c = choice(index, event.text, logprobs, event.finishReason);
          if (params.returnTokenIds) {
            const ids = {
              token_ids: [event.token],
              prompt_token_ids: started.has(index) ? null : promptOf(index),
            };
            started.add(index);
            send({ ...chunk, choices: [{ ...c, ...ids }] });
          } else send({ ...chunk, choices: [c] });
        },
      }).catch((err) => {
        if (!(err instanceof ShutdownError)) throw err;
        // The server is shutting down: the choices still running end here, cut short.
        for (let index = 0; index < prompts.length * params.n; index++)
          if (!finished.has(index)) send({ ...chunk, choices: [choice(index, "", null, "length")] });
      });
      if (params.includeUsage) send({ ...chunk, choices: [], usage: usageOf(prompts, tokens) });
    });
  }

  const results = await generateChoices(model, target, prompts, params, {
    signal: scope.signal,
    cut: scope.drain.cut,
  });
  return Response.json({
    ...head,
    choices: results.map((r, index) => {
      const logprobs =
        params.logprobs === null ? null : logprobsOf(model, stepsOf(r), params.logprobs, 0, params);
      const c = choice(index, r.text, logprobs, r.finishReason);
      return params.returnTokenIds
        ? { ...c, token_ids: Array.from(r.ids), prompt_token_ids: promptOf(index) }
        : c;
    }),
    usage: usageOf(prompts, completionTokens(results)),
  });
}

function choice(
  index: number,
  text: string,
  logprobs: CompletionLogprobs | null,
  finishReason: FinishReason | null,
) {
  return { index, text, logprobs, finish_reason: finishReason };
}

/** The prompt field as token ids: a string or token list, or a list of either. */
function promptIds(model: ServedModel, prompt: CompletionRequest["prompt"]): Int32Array[] {
  if (typeof prompt === "string") return [model.encode(prompt)];
  if (prompt.every((p) => typeof p === "number")) return [Int32Array.from(prompt as number[])];
  return (prompt as Array<string | number[]>).map((p) =>
    typeof p === "string" ? model.encode(p) : Int32Array.from(p),
  );
}

/**
 * Legacy log-probs of some steps; text offsets count from `offset` (in the completion's text).
 * Tokens are their text, or "token_id:N" with `tokensAsIds`.
 */
function logprobsOf(
  model: ServedModel,
  steps: Step[],
  k: number,
  offset: number,
  params: Pick<GenerationParams, "tokensAsIds">,
): CompletionLogprobs {
  const label = (id: number) => (params.tokensAsIds ? `token_id:${id}` : model.tokenText(id));
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  for (const s of steps) {
    out.tokens.push(label(s.token));
    out.token_logprobs.push(jsonLogprob(s.logprob));
    const top: Record<string, number> = {};
    for (const t of s.top.slice(0, k)) top[label(t.token)] = jsonLogprob(t.logprob);
    top[label(s.token)] = jsonLogprob(s.logprob);
    out.top_logprobs.push(top);
    out.text_offset.push(offset);
    offset += model.tokenText(s.token).length;
  }
  return out;
}
