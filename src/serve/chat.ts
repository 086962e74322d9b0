/**
 * POST /v1/chat/completions: the conversation rendered with the model's chat
 * template (tokenizer_config.json, generation prompt added), then completed
 * like a text prompt. `logprobs: true` reports each token's log-prob, with
 * `top_logprobs` most likely alternatives per step. A stream still running
 * when a shutdown's grace period ends finishes with "length" (cut short).
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
  const head = { id: responseId("chatcmpl"), created: nowSeconds(), model: model.id };

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
        send({ ...chunk, choices: [delta(index, opening, null, null)] });
      }
      let tokens = 0;
      const finished = new Set<number>();
      await generateChoices(model, [prompt], params, {
        signal: stop,
        cut: scope.drain.cut,
        onToken: (index, event) => {
          tokens++;
          const logprobs = params.logprobs === null ? null : logprobsOf(model, [event], params.logprobs);
          if (event.text !== "" || logprobs)
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

  const results = await generateChoices(model, [prompt], params, {
    signal: scope.signal,
    cut: scope.drain.cut,
  });
  return Response.json({
    ...head,
    object: "chat.completion",
    choices: results.map((r, index) => ({
      index,
      message: { role: "assistant", content: r.text, refusal: null },
      logprobs: params.logprobs === null ? null : logprobsOf(model, stepsOf(r), params.logprobs),
      finish_reason: r.finishReason,
    })),
    usage: usageOf([prompt], completionTokens(results)),
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

function logprobsOf(model: ServedModel, steps: Step[], k: number): ChatLogprobs {
  const entry = (t: TokenLogprob): ChatTokenLogprob => {
    const token = model.tokenText(t.token);
    return { token, logprob: jsonLogprob(t.logprob), bytes: [...Buffer.from(token, "utf8")] };
  };
  return {
    content: steps.map((s) => ({ ...entry(s), top_logprobs: s.top.slice(0, k).map(entry) })),
    refusal: null,
  };
}
