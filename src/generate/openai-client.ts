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
 * n samples: one request asks for all n. Some servers ignore n > 1 and answer with one choice;
 * each missing sample j is then asked for alone (n = 1, seed + j when a seed was given), and
 * once a server has done so, later conversations send their n single-sample requests at once.
 *
 * Token counts: the usage block counts the completion tokens of the whole request. With one
 * choice that is the choice's count; with several, the total is split between them in
 * proportion to their text lengths (the counts still add up to the server's total). A server
 * that sends no usage gets an estimate of one token per 4 characters.
 *
 * Failures: at most `concurrency` requests are in flight. Each attempt has its own timeout.
 * Network errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter (or after
 * the server's Retry-After); other 4xx are not. Giving up throws an error naming the method,
 * the URL, the attempts and the server's own error message.
 */
import { z } from "zod";
import type { ChatMessage } from "../model/chat-template.ts";
import { Pool } from "./pool.ts";
import { SamplingOptions } from "./sampling.ts";
import type { ChatGenerator, TextCompletion } from "./types.ts";

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
  /** Attempts after the first, for network errors, timeouts, 429 and 5xx. */
  retries: z.number().int().min(0).default(4),
  /** Wait before the first retry in ms (doubled each retry, times a random 0.5-1.5; at most 60 s). */
  backoffMs: z.number().min(0).default(500),
  /** The fetch to use (default: the global one). */
  fetch: z.custom<typeof fetch>((v) => typeof v === "function", "expected a fetch function").optional(),
});
export type OpenAIChatOptions = z.input<typeof OpenAIChatOptions>;

/** The parts of a chat completion response that are read. */
const ChatCompletionResponse = z.object({
  choices: z.array(
    z.object({
      index: z.number().int().optional(),
      message: z.object({ content: z.string().nullish() }).nullish(),
      finish_reason: z.string().nullish(),
    }),
  ),
  usage: z.object({ completion_tokens: z.number().nullish() }).nullish(),
});

/** The parts of a model list that are read. */
const ModelList = z.object({ data: z.array(z.object({ id: z.string() })) });

/** Longest wait between attempts, whatever the backoff or Retry-After says. */
const MAX_WAIT_MS = 60_000;

/** What one HTTP attempt came to. */
type Attempt =
  | { ok: true; body: unknown }
  | { ok: false; retryable: boolean; reason: string; retryAfterMs?: number };

export class OpenAIChatGenerator implements ChatGenerator {
  /** The normalised base URL, ending in "/v1". */
  readonly baseUrl: string;
  readonly options: z.output<typeof OpenAIChatOptions>;
  readonly #slots: Pool<number>;
  readonly #fetch: typeof fetch;
  #model: Promise<string> | null = null;
  #modelName: string | undefined;
  /** Set once the server answered a request for n > 1 samples with a single choice. */
  #ignoresN = false;

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
      : this.#request("GET", "/models").then((body) => {
          const list = ModelList.safeParse(body);
          if (!list.success || list.data.data.length === 0)
            throw new Error(`GET ${this.baseUrl}/models: no model listed (${excerpt(JSON.stringify(body))})`);
          this.#modelName = list.data.data[0].id;
          return this.#modelName;
        });
    // A failed look-up is asked again next time.
    this.#model.catch(() => {
      this.#model = null;
    });
    return this.#model;
  }

  async chat(
    conversations: ReadonlyArray<ReadonlyArray<ChatMessage>>,
    options: z.input<typeof SamplingOptions> = {},
  ): Promise<TextCompletion[][]> {
    const o = SamplingOptions.parse(options);
    const seed = options.seed === undefined ? undefined : o.seed;
    const model = await this.resolveModel();
    return Promise.all(conversations.map((messages) => this.#samples(model, messages, o, seed)));
  }

  /** The n samples of one conversation. */
  async #samples(
    model: string,
    messages: ReadonlyArray<ChatMessage>,
    o: SamplingOptions,
    seed: number | undefined,
  ): Promise<TextCompletion[]> {
    const samples: TextCompletion[] = [];
    if (o.n === 1 || !this.#ignoresN) {
      const first = await this.#complete(model, messages, o, o.n, seed);
      if (o.n > 1 && first.length === 1) this.#ignoresN = true;
      samples.push(...first.slice(0, o.n));
    }
    const missing = Array.from({ length: o.n - samples.length }, (_, i) => samples.length + i);
    const alone = await Promise.all(
      missing.map((j) => this.#complete(model, messages, o, 1, seed === undefined ? undefined : seed + j)),
    );
    for (const one of alone) samples.push(one[0]);
    return samples;
  }

  /** One request for n choices; at least one comes back. */
  async #complete(
    model: string,
    messages: ReadonlyArray<ChatMessage>,
    o: SamplingOptions,
    n: number,
    seed: number | undefined,
  ): Promise<TextCompletion[]> {
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
    const answer = await this.#request("POST", "/chat/completions", body);
    const parsed = ChatCompletionResponse.safeParse(answer);
    const where = `POST ${this.baseUrl}/chat/completions`;
    if (!parsed.success)
      throw new Error(`${where}: not a chat completion (${excerpt(JSON.stringify(answer))})`);
    const choices = [...parsed.data.choices].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    if (choices.length === 0) throw new Error(`${where}: the server returned no choices`);
    const texts = choices.map((c) => c.message?.content ?? "");
    const tokens = splitTokens(parsed.data.usage?.completion_tokens ?? undefined, texts);
    return choices.map((c, i) => ({
      text: texts[i],
      tokens: tokens[i],
      finishReason: c.finish_reason === "length" ? "length" : "stop",
    }));
  }

  /** A JSON request with retries; resolves to the parsed answer or throws the last failure. */
  async #request(method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
    const url = `${this.baseUrl}${path}`;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.#slots.use(() => this.#attempt(method, url, body));
      if (outcome.ok) return outcome.body;
      if (!outcome.retryable || attempt >= this.options.retries) {
        const tries = attempt > 0 ? ` after ${attempt + 1} attempts` : "";
        throw new Error(`${method} ${url} failed${tries}: ${outcome.reason}`);
      }
      const backoff = this.options.backoffMs * 2 ** attempt * (0.5 + Math.random());
      await sleep(Math.min(MAX_WAIT_MS, outcome.retryAfterMs ?? backoff));
    }
  }

  /** One HTTP exchange, the answer read in full before the timeout. */
  async #attempt(method: string, url: string, body: unknown): Promise<Attempt> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.options.timeoutMs);
    try {
      const headers: Record<string, string> = { accept: "application/json" };
      if (body !== undefined) headers["content-type"] = "application/json";
      if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
      const response = await this.#fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: abort.signal,
      });
      const text = await response.text();
      if (response.ok) {
        try {
          return { ok: true, body: JSON.parse(text) };
        } catch {
          return { ok: false, retryable: false, reason: `the answer is not JSON: ${excerpt(text)}` };
        }
      }
      const retryable = response.status === 429 || response.status >= 500;
      const reason = `HTTP ${response.status}: ${serverMessage(text)}`;
      return { ok: false, retryable, reason, retryAfterMs: retryAfter(response.headers.get("retry-after")) };
    } catch (e) {
      if (abort.signal.aborted)
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

/**
 * Completion tokens of each choice: the request's total split in proportion to the texts'
 * lengths (largest remainders get the leftover tokens), or 4 characters a token without a total.
 */
export function splitTokens(total: number | undefined, texts: readonly string[]): number[] {
  if (total === undefined) return texts.map((t) => Math.ceil(t.length / 4));
  if (texts.length === 1) return [total];
  const chars = texts.reduce((sum, t) => sum + t.length, 0);
  const shares = texts.map((t) => (chars === 0 ? total / texts.length : (total * t.length) / chars));
  const counts = shares.map(Math.floor);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const byRemainder = shares.map((s, i) => [s - Math.floor(s), i]).sort((a, b) => b[0] - a[0]);
  for (const [, i] of byRemainder) {
    if (left <= 0) break;
    counts[i]++;
    left--;
  }
  return counts;
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
