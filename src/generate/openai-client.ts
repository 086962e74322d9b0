/**
 * Chat generation through any OpenAI-compatible HTTP server (vLLM, SGLang, llama.cpp's server,
 * Ollama, `reasonrl serve`, OpenAI itself). Each conversation is one
 * `POST {base}/chat/completions`; the server applies its own chat template.
 *
 * Base URL: the server's address with or without its "/v1": trailing slashes are dropped, and
 * "/v1" is appended unless the path already ends with it. "http://127.0.0.1:8000",
 * "http://127.0.0.1:8000/" and "http://127.0.0.1:8000/v1/" all mean "http://127.0.0.1:8000/v1".
 *
 * Model: the `model` option, else the first model that `GET {base}/models` lists (asked once).
 *
 * Sampling: messages, n, temperature, top_p, max_tokens and stop (when not empty) are always
 * sent; top_k and min_p only when set (OpenAI's own API rejects them); seed only when the caller
 * gave one (SamplingOptions defaults it to 0, which would pin every request to one seed).
 *
 * n samples: one request asks for all n. Two kinds of servers cannot: some ignore n > 1 and
 * answer with one choice, some (llama.cpp's server, above its slot count) answer HTTP 400.
 * Either way each missing sample j is then asked for alone (n = 1, seed + j when a seed was
 * given); once the single request succeeds, later conversations send their n single-sample
 * requests at once. (When the single request fails with a 400 too, the 400 was not about n.)
 *
 * Token counts, per choice, never divided: an answer with one choice reads usage.completion_tokens
 * (the request's total is that choice's count). With several choices usage counts the whole
 * request on some servers and one choice on llama.cpp's, so it is not read: a request for n > 1
 * asks for logprobs (top_logprobs 1) and counts each choice's entries (or its token_ids, when a
 * server returns them). Without those, the `countTokens` option (a local tokenizer) counts the
 * text; else the count is unknown (null). (llama.cpp's server gives no logprobs entry to a token
 * that ends inside a UTF-8 character, so a choice's count can fall short there.) The finish
 * reason is the choice's own (null when it has none).
 *
 * Failures: at most `concurrency` requests are in flight; each attempt has its own timeout.
 * What can succeed when asked again (network errors, timeouts, 408, 429, 502, 503, 504) is
 * retried with exponential backoff and jitter (or after the server's Retry-After); when the
 * retries are spent, the server is taken as unavailable and `sample()` throws. Any other answer
 * (a 500 from a completion with an incomplete UTF-8 sequence, a 400, a body that is not a chat
 * completion) fails only the samples of that request: `sample()` returns them as failed samples
 * with the method, URL and the server's message, and goes on.
 */
import { z } from "zod";
import type { ChatMessage } from "../model/chat-template.ts";
import { Pool } from "./pool.ts";
import { SamplingOptions } from "./sampling.ts";
import type { ChatGenerator, FinishReason, TextCompletion } from "./types.ts";

/** Options of `new OpenAIChatGenerator(...)`. */
export const OpenAIChatOptions = z.object({
  /** The server, e.g. "http://127.0.0.1:8000/v1" ("/v1" is added when missing). */
  baseUrl: z.url({ protocol: /^https?$/ }),
  /** Sent as "Authorization: Bearer <apiKey>". */
  apiKey: z.string().min(1).optional(),
  /** The model to ask for; default: the first one the server lists at GET /v1/models. */
  model: z.string().min(1).optional(),
  /** Requests in flight at most. */
  concurrency: z.number().int().positive().default(8),
  /** Time limit of one attempt (sending, the server's work, reading the answer), in ms. */
  timeoutMs: z.number().positive().default(600_000),
  /** Attempts after the first, for network errors, timeouts, 408, 429, 502, 503 and 504. */
  retries: z.number().int().min(0).default(4),
  /** Wait before the first retry in ms (doubled each retry, times a random 0.5-1.5; at most 60 s). */
  backoffMs: z.number().min(0).default(500),
  /** Counts a completion's tokens when the server does not say (a local tokenizer). */
  countTokens: z.custom<(text: string) => number>((v) => typeof v === "function").optional(),
  /** Told once what the client learned about the server (e.g. that it takes one sample per request). */
  log: z.custom<(message: string) => void>((v) => typeof v === "function").optional(),
  /** The fetch to use (default: the global one). */
  fetch: z.custom<typeof fetch>((v) => typeof v === "function", "expected a fetch function").optional(),
});
export type OpenAIChatOptions = z.input<typeof OpenAIChatOptions>;

/**
 * One sample from the server: its completion (the token count or finish reason null when the
 * server did not give them), or the error of the request that was to bring it.
 */
export type ChatSample =
  | { text: string; tokens: number | null; finishReason: FinishReason | null; error?: undefined }
  | { error: string };

/** The parts of a chat completion response that are read. */
const ChatCompletionResponse = z.object({
  choices: z.array(
    z.object({
      index: z.number().int().optional(),
      message: z.object({ content: z.string().nullish() }).nullish(),
      finish_reason: z.string().nullish(),
      logprobs: z.object({ content: z.array(z.unknown()).nullish() }).nullish(),
      token_ids: z.array(z.number()).nullish(),
    }),
  ),
  usage: z.object({ completion_tokens: z.number().nullish() }).nullish(),
});

/** The parts of a model list that are read. */
const ModelList = z.object({ data: z.array(z.object({ id: z.string() })) });

/** Longest wait between attempts, whatever the backoff or Retry-After says. */
const MAX_WAIT_MS = 60_000;

/** HTTP statuses that a later attempt may turn into a success. */
const RETRYABLE = new Set([408, 429, 502, 503, 504]);

/** What one HTTP attempt came to. */
type Attempt =
  | { ok: true; body: unknown }
  | { ok: false; retryable: boolean; status?: number; reason: string; retryAfterMs?: number };

/** What one request for n choices came to: its samples, or why it failed (the HTTP status, if any). */
type Answer =
  | { ok: true; samples: Array<Extract<ChatSample, { text: string }>> }
  | { ok: false; status?: number; reason: string };

export class OpenAIChatGenerator implements ChatGenerator {
  /** The normalised base URL, ending in "/v1". */
  readonly baseUrl: string;
  readonly options: z.output<typeof OpenAIChatOptions>;
  readonly #slots: Pool<number>;
  readonly #fetch: typeof fetch;
  #model: Promise<string> | null = null;
  #modelName: string | undefined;
  /** Set once the server has shown it cannot answer n > 1 samples in one request. */
  #singleOnly = false;

  constructor(options: OpenAIChatOptions) {
    const parsed = OpenAIChatOptions.safeParse(options);
    if (!parsed.success) {
      const why = parsed.error.issues.map((x) => `${x.path.join(".") || "options"}: ${x.message}`);
      throw new Error(`OpenAI endpoint options: ${why.join("; ")}`);
    }
    this.options = parsed.data;
    this.baseUrl = normalizeBaseUrl(parsed.data.baseUrl);
    this.#slots = Pool.slots(parsed.data.concurrency);
    this.#fetch = parsed.data.fetch ?? fetch;
    this.#modelName = parsed.data.model;
  }

  /** "endpoint <baseUrl> (<model>)"; the model reads "?" until it has been asked for. */
  get name(): string {
    return `endpoint ${this.baseUrl} (${this.#modelName ?? "?"})`;
  }

  /** The model's name: the `model` option, else the first the server lists (asked once). */
  resolveModel(): Promise<string> {
    this.#model ??= this.#modelName
      ? Promise.resolve(this.#modelName)
      : this.#request("GET", "/models").then((answer) => {
          if (!answer.ok) throw new Error(`GET ${this.baseUrl}/models failed: ${answer.reason}`);
          const list = ModelList.safeParse(answer.body);
          if (!list.success || list.data.data.length === 0)
            throw new Error(
              `GET ${this.baseUrl}/models: no model listed (${excerpt(JSON.stringify(answer.body))})`,
            );
          this.#modelName = list.data.data[0].id;
          return this.#modelName;
        });
    // A failed look-up is asked again next time.
    this.#model.catch(() => {
      this.#model = null;
    });
    return this.#model;
  }

  /**
   * The ChatGenerator face (the curation steps use it): as `sample()`, but a failed sample or
   * an unknown token count throws, since a TextCompletion has neither; a missing finish reason
   * reads "stop" (servers send one; a TextCompletion has no "unknown").
   */
  async chat(
    conversations: ReadonlyArray<ReadonlyArray<ChatMessage>>,
    options: z.input<typeof SamplingOptions> = {},
  ): Promise<TextCompletion[][]> {
    const all = await this.sample(conversations, options);
    return all.map((samples) =>
      samples.map((s) => {
        if (s.error !== undefined) throw new Error(s.error);
        if (s.tokens === null)
          throw new Error(
            `${this.name} returned no token count per completion (no usage for one sample, no logprobs for several)`,
          );
        return { text: s.text, tokens: s.tokens, finishReason: s.finishReason ?? "stop" };
      }),
    );
  }

  /**
   * n samples of each conversation: result[conversation][sample], each a completion or a failed
   * sample (see the file's comment). Throws when the server is unavailable (retries spent) or
   * `signal` aborts.
   */
  async sample(
    conversations: ReadonlyArray<ReadonlyArray<ChatMessage>>,
    options: z.input<typeof SamplingOptions> = {},
    signal?: AbortSignal,
  ): Promise<ChatSample[][]> {
    const o = SamplingOptions.parse(options);
    const seed = options.seed === undefined ? undefined : o.seed;
    const model = await this.resolveModel();
    return Promise.all(conversations.map((messages) => this.#samples(model, messages, o, seed, signal)));
  }

  /** The n samples of one conversation. */
  async #samples(
    model: string,
    messages: ReadonlyArray<ChatMessage>,
    o: SamplingOptions,
    seed: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ChatSample[]> {
    const one = (j: number) =>
      this.#complete(model, messages, o, 1, seed === undefined ? undefined : seed + j, signal);
    const samples: ChatSample[] = [];
    let rejectedN: string | null = null;
    if (o.n === 1 || !this.#singleOnly) {
      const first = await this.#complete(model, messages, o, o.n, seed, signal);
      if (first.ok) {
        if (o.n > 1 && first.samples.length === 1)
          this.#learnSingleOnly("answers one choice to a request for n > 1");
        samples.push(...first.samples.slice(0, o.n));
      } else if (o.n > 1 && first.status === 400) rejectedN = first.reason;
      else return Array.from({ length: o.n }, () => ({ error: first.reason }));
    }
    if (rejectedN !== null) {
      // Was the 400 about n? Sample 0 alone tells: when it fails too, every sample fails alike.
      const alone = await one(0);
      if (!alone.ok) return Array.from({ length: o.n }, () => ({ error: alone.reason }));
      this.#learnSingleOnly(`rejects n = ${o.n} (${rejectedN})`);
      samples.push(alone.samples[0]);
    }
    const missing = Array.from({ length: o.n - samples.length }, (_, i) => samples.length + i);
    const rest = await Promise.all(missing.map((j) => one(j)));
    for (const answer of rest) samples.push(answer.ok ? answer.samples[0] : { error: answer.reason });
    return samples;
  }

  #learnSingleOnly(why: string): void {
    if (this.#singleOnly) return;
    this.#singleOnly = true;
    this.options.log?.(`${this.name} ${why}: asking for one sample per request from now on`);
  }

  /** One request for n choices. */
  async #complete(
    model: string,
    messages: ReadonlyArray<ChatMessage>,
    o: SamplingOptions,
    n: number,
    seed: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Answer> {
    const body: Record<string, unknown> = {
      model,
      messages,
      n,
      temperature: o.temperature,
      top_p: o.topP,
      max_tokens: o.maxTokens,
    };
    if (o.stop.length > 0) body.stop = o.stop;
    if (seed !== undefined) body.seed = seed;
    if (o.topK > 0) body.top_k = o.topK;
    if (o.minP > 0) body.min_p = o.minP;
    if (n > 1) {
      // To count each choice's tokens (see the file's comment).
      body.logprobs = true;
      body.top_logprobs = 1;
    }
    const where = `POST ${this.baseUrl}/chat/completions`;
    const answer = await this.#request("POST", "/chat/completions", body, signal);
    if (!answer.ok) return { ok: false, status: answer.status, reason: `${where}: ${answer.reason}` };
    const parsed = ChatCompletionResponse.safeParse(answer.body);
    if (!parsed.success)
      return {
        ok: false,
        reason: `${where}: not a chat completion (${excerpt(JSON.stringify(answer.body))})`,
      };
    const choices = [...parsed.data.choices].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    if (choices.length === 0) return { ok: false, reason: `${where}: the server returned no choices` };
    const usage = parsed.data.usage?.completion_tokens;
    const samples = choices.map((c) => {
      const text = c.message?.content ?? "";
      const counted =
        (choices.length === 1 && typeof usage === "number" ? usage : undefined) ??
        c.token_ids?.length ??
        c.logprobs?.content?.length ??
        this.options.countTokens?.(text);
      const finishReason: FinishReason | null = !c.finish_reason
        ? null
        : c.finish_reason === "length"
          ? "length"
          : "stop";
      return { text, tokens: counted ?? null, finishReason };
    });
    return { ok: true, samples };
  }

  /**
   * A JSON request, retried while what failed can succeed (see the file's comment). Resolves to
   * the parsed answer or to the failure that asking again cannot mend; throws when the retries
   * are spent (the server is unavailable) or `signal` aborts.
   */
  async #request(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<{ ok: true; body: unknown } | { ok: false; status?: number; reason: string }> {
    const url = `${this.baseUrl}${path}`;
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const outcome = await this.#slots.use(() => this.#attempt(method, url, body, signal));
      if (outcome.ok || !outcome.retryable) return outcome;
      if (attempt >= this.options.retries) {
        const tries = attempt > 0 ? ` after ${attempt + 1} attempts` : "";
        throw new Error(`${method} ${url} failed${tries}: ${outcome.reason}`);
      }
      const backoff = this.options.backoffMs * 2 ** attempt * (0.5 + Math.random());
      await sleep(Math.min(MAX_WAIT_MS, outcome.retryAfterMs ?? backoff), signal);
    }
  }

  /** One HTTP exchange, the answer read in full before the timeout. */
  async #attempt(
    method: string,
    url: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<Attempt> {
    signal?.throwIfAborted();
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.options.timeoutMs);
    try {
      const headers: Record<string, string> = { accept: "application/json" };
      if (body !== undefined) headers["content-type"] = "application/json";
      if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
      const response = await this.#fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal,
      });
      const text = await response.text();
      if (response.ok) {
        try {
          return { ok: true, body: JSON.parse(text) };
        } catch {
          return { ok: false, retryable: false, reason: `the answer is not JSON: ${excerpt(text)}` };
        }
      }
      return {
        ok: false,
        retryable: RETRYABLE.has(response.status),
        status: response.status,
        reason: `HTTP ${response.status}: ${serverMessage(text)}`,
        retryAfterMs: retryAfter(response.headers.get("retry-after")),
      };
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.signal.aborted)
        return { ok: false, retryable: true, reason: `timed out after ${this.options.timeoutMs} ms` };
      const err = e as Error & { cause?: { message?: string } };
      return { ok: false, retryable: true, reason: `network error: ${err.cause?.message ?? err.message}` };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The base URL ending in "/v1", without a trailing slash (see the file's comment). */
export function normalizeBaseUrl(baseUrl: string): string {
  const trimmed = baseUrl.replace(/\/+$/, "");
  return trimmed.endsWith("/v1") ? trimmed : `${trimmed}/v1`;
}

/** The server's error message from an error body ({error: {message}}, {message}, {detail}, or text). */
function serverMessage(text: string): string {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const error = body.error as { message?: unknown } | string | undefined;
    const message =
      typeof error === "string" ? error : (error?.message ?? body.message ?? body.detail ?? undefined);
    if (typeof message === "string" && message) return excerpt(message);
  } catch {
    // not JSON: the text itself
  }
  return text ? excerpt(text) : "(empty answer)";
}

/** A Retry-After header (seconds, or an HTTP date) in ms. */
function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function excerpt(text: string, max = 500): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

/** Waits `ms`, or throws the signal's reason as soon as it aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
