/**
 * POST /v1/chat/completions: the conversation rendered with the model's chat
 * template (tokenizer_config.json, generation prompt added), then completed
 * like a text prompt. `logprobs: true` reports each token's log-prob, with
 * `top_logprobs` most likely alternatives per step. A stream still running
 * when a shutdown's grace period ends finishes with "length" (cut short).
 * `model` picks the base or a loaded adapter. vLLM's `return_token_ids` adds
 * the rendered prompt's `prompt_token_ids` (the response's, or the first
 * chunk's) and each choice's `token_ids` (a stream: each chunk's);
 * `return_tokens_as_token_ids` writes log-prob tokens "token_id:N".
 */
import type { TokenLogprob } from "../generate/scheduler.ts";
import type { FinishReason } from "../generate/types.ts";
import type { ChatMessage } from "../model/chat-template.ts";
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
import { ChatRequest, parseBody, samplingParams } from "./schemas.ts";
import type { ServedModel } from "./served-model.ts";
import { sseResponse } from "./sse.ts";

/** One token of chat log-probs. */
interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

type ChatLogprobs = {
  content: Array<ChatTokenLogprob & { top_logprobs: ChatTokenLogprob[] }>;
  refusal: null;
};

/** Answers one /v1/chat/completions body (JSON, or an SSE stream when `stream`); throws ApiError on bad input. */
export async function chatCompletions(
  model: ServedModel,
  body: unknown,
  scope: RequestScope,
): Promise<Response> {
  const req = parseBody(ChatRequest, body);
  const target = model.target(req.model); // an unknown model is a 404 before anything else is checked, as vLLM
  if (req.top_logprobs != null && !req.logprobs)
    throw ApiError.invalid("top_logprobs", "top_logprobs needs logprobs set to true");
  const params = samplingParams(req, {
    maxTokens: req.max_completion_tokens ?? req.max_tokens ?? null,
    logprobs: req.logprobs ? (req.top_logprobs ?? 0) : null,
  });
  const prompt = renderPrompt(model, req.messages);
  checkLimits(model, [prompt], params, {
    prompt: "messages",
    maxTokens: req.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens",
  });
  const head = { id: responseId("chatcmpl"), created: nowSeconds(), model: target.id };
  const label = (id: number) => (params.tokensAsIds ? `token_id:${id}` : model.tokenText(id));

  if (params.stream) {
    // With include_usage, every chunk carries `usage: null` but the last, which has only the usage.
    const chunk = {
      ...head,
      object: "chat.completion.chunk",
      ...(params.includeUsage ? { usage: null } : {}),
    };
    return sseResponse(scope, async (send, stop) => {
      for (let index = 0; index < params.n; index++) {
        const opening = { role: "assistant", content: "", refusal: null };
        const ids = params.returnTokenIds && index === 0 ? { prompt_token_ids: Array.from(prompt) } : {};
        send({ ...chunk, ...ids, choices: [delta(index, opening, null, null)] });
      }
      let tokens = 0;
      const finished = new Set<number>();
      await generateChoices(model, target, [prompt], params, {
        signal: stop,
        cut: scope.drain.cut,
        onToken: (index, event) => {
          tokens++;
          const logprobs = params.logprobs === null ? null : logprobsOf([event], params.logprobs, label);
          if (params.returnTokenIds) {
            const d = delta(index, { content: event.text }, logprobs, null);
            send({ ...chunk, choices: [{ ...d, token_ids: [event.token] }] });
          } else if (event.text !== "" || logprobs)
            send({ ...chunk, choices: [delta(index, { content: event.text }, logprobs, null)] });
          if (event.finishReason) {
            finished.add(index);
            send({ ...chunk, choices: [delta(index, {}, null, event.finishReason)] });
          }
        },
      }).catch((err) => {
        if (!(err instanceof ShutdownError)) throw err;
        // The server is shutting down: the choices still running end here, cut short.
        for (let index = 0; index < params.n; index++)
          if (!finished.has(index)) send({ ...chunk, choices: [delta(index, {}, null, "length")] });
      });
      if (params.includeUsage) send({ ...chunk, choices: [], usage: usageOf([prompt], tokens) });
    });
  }

  const results = await generateChoices(model, target, [prompt], params, {
    signal: scope.signal,
    cut: scope.drain.cut,
  });
  return Response.json({
    ...head,
    object: "chat.completion",
    choices: results.map((r, index) => ({
      index,
      message: { role: "assistant", content: r.text, refusal: null },
      logprobs: params.logprobs === null ? null : logprobsOf(stepsOf(r), params.logprobs, label),
      finish_reason: r.finishReason,
      ...(params.returnTokenIds ? { token_ids: Array.from(r.ids) } : {}),
    })),
    usage: usageOf([prompt], completionTokens(results)),
    ...(params.returnTokenIds ? { prompt_token_ids: Array.from(prompt) } : {}),
  });
}

function delta(
  index: number,
  content: { role?: string; content?: string; refusal?: null },
  logprobs: ChatLogprobs | null,
  finishReason: FinishReason | null,
) {
  return { index, delta: content, logprobs, finish_reason: finishReason };
}

/** The messages as the chat template takes them, rendered and tokenized; template errors are 400s. */
function renderPrompt(model: ServedModel, messages: ChatRequest["messages"]): Int32Array {
  const conversation: ChatMessage[] = messages.map(({ role, content, reasoning_content, ...rest }) => {
    const text =
      content == null ? "" : typeof content === "string" ? content : content.map((p) => p.text).join("");
    const message: ChatMessage = { ...rest, role: role === "developer" ? "system" : role, content: text };
    if (reasoning_content != null) message.reasoning_content = reasoning_content;
    return message;
  });
  try {
    return model.chatPrompt(conversation);
  } catch (err) {
    throw ApiError.invalid("messages", (err as Error).message);
  }
}

/** Chat log-probs of some steps; `label` writes a token (its text, or "token_id:N"). */
function logprobsOf(steps: Step[], k: number, label: (id: number) => string): ChatLogprobs {
  const entry = (t: TokenLogprob): ChatTokenLogprob => {
    const token = label(t.token);
    return { token, logprob: jsonLogprob(t.logprob), bytes: [...Buffer.from(token, "utf8")] };
  };
  return {
    content: steps.map((s) => ({ ...entry(s), top_logprobs: s.top.slice(0, k).map(entry) })),
    refusal: null,
  };
}
