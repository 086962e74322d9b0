/**
 * A fake OpenAI-compatible server for eval tests: a hono app on loopback that serves one model
 * id at GET /v1/models and answers POST /v1/chat/completions through a function of the request,
 * recording every request. `chatCompletion` builds answers shaped like the servers eval meets
 * (vLLM's usage over all choices, llama.cpp's usage of the first choice, logprobs or none).
 */
import type { AddressInfo } from "node:net";
import { type ServerType, serve } from "@hono/node-server";
import { Hono } from "hono";

/** A chat completion request as the server got it. */
export interface ChatRequest {
  model: string;
  messages: Array<{ role: string; content: string }>;
  n?: number;
  seed?: number;
  temperature?: number;
  max_tokens?: number;
  logprobs?: boolean;
  top_logprobs?: number;
}

/** An answer: an HTTP status and a JSON body. */
export interface FakeAnswer {
  status: number;
  body: unknown;
}

export interface FakeOpenAI {
  /** "http://127.0.0.1:<port>" (no /v1, as users often write it). */
  url: string;
  port: number;
  requests: ChatRequest[];
  close(): Promise<void>;
}

/**
 * Starts a server serving `model` on `port` (0: any free port) that answers chat completions
 * with `answer` (awaited; it may wait to play a slow server).
 */
export async function fakeOpenAI(options: {
  model: string;
  port?: number;
  answer: (request: ChatRequest) => FakeAnswer | Promise<FakeAnswer>;
}): Promise<FakeOpenAI> {
  const requests: ChatRequest[] = [];
  const app = new Hono();
  app.get("/v1/models", (c) =>
    c.json({ object: "list", data: [{ id: options.model, object: "model", owned_by: "test" }] }),
  );
  app.post("/v1/chat/completions", async (c) => {
    const request = (await c.req.json()) as ChatRequest;
    requests.push(request);
    const { status, body } = await options.answer(request);
    return c.json(body as object, status as 200);
  });
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: options.port ?? 0 }, () => resolve(s));
    s.once("error", reject);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        if ("closeAllConnections" in server) server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The last user message of a request (the prompt with the problem). */
export function lastMessage(request: ChatRequest): string {
  return request.messages.at(-1)?.content ?? "";
}

/** One choice of a completion: its text, tokens, and why it ended. */
export interface FakeChoice {
  text: string;
  tokens: number;
  finish?: "stop" | "length";
}

/**
 * A chat completion of `choices`. usage: "all" sums the choices (vLLM), "first" counts the
 * first choice only (llama.cpp's server). Each choice has logprobs entries (one per token) when
 * the request asked for logprobs and `logprobs` is not false.
 */
export function chatCompletion(
  request: ChatRequest,
  choices: readonly FakeChoice[],
  options: { usage?: "all" | "first"; logprobs?: boolean } = {},
): FakeAnswer {
  const withLogprobs = request.logprobs === true && options.logprobs !== false;
  const completionTokens =
    options.usage === "first" ? choices[0].tokens : choices.reduce((a, c) => a + c.tokens, 0);
  return {
    status: 200,
    body: {
      id: "chatcmpl-fake",
      object: "chat.completion",
      model: request.model,
      choices: choices.map((c, index) => ({
        index,
        message: { role: "assistant", content: c.text },
        finish_reason: c.finish ?? "stop",
        ...(withLogprobs
          ? {
              logprobs: {
                content: Array.from({ length: c.tokens }, () => ({
                  token: "t",
                  logprob: -0.5,
                  bytes: [116],
                  top_logprobs: [{ token: "t", logprob: -0.5, bytes: [116] }],
                })),
              },
            }
          : {}),
      })),
      usage: { prompt_tokens: 10, completion_tokens: completionTokens, total_tokens: 10 + completionTokens },
    },
  };
}

/** An OpenAI-shaped error answer. */
export function errorAnswer(status: number, message: string, type = "invalid_request_error"): FakeAnswer {
  return { status, body: { error: { code: status, message, type } } };
}
