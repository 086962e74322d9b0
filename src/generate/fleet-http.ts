/**
 * One HTTP exchange with one server of a rollout fleet, and what came of it: an answer (JSON, or
 * text: vLLM's adapter endpoints answer in plain text), an HTTP error with the server's message,
 * a network error or a timeout. Never retries and never throws for the server's failures: the
 * fleet (fleet.ts) decides what each outcome means. Throws only when the caller's signal aborts.
 */
import type { HttpCall } from "./fleet-protocols.ts";

/** What one exchange came to. */
export type HttpOutcome =
  | { kind: "ok"; status: number; body: unknown }
  | { kind: "http"; status: number; message: string }
  | { kind: "network"; message: string }
  | { kind: "timeout"; message: string };

export interface SendOptions {
  /** Sent as "Authorization: Bearer <apiKey>". */
  apiKey?: string;
  /** Time limit of the exchange (sending, the server's work, reading the answer), in ms. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * An endpoint's URL as the root its paths go after: trailing slashes and a trailing "/v1" are
 * dropped ("http://h:8000/v1/" -> "http://h:8000"), since the protocols' paths name their own
 * "/v1".
 */
export function endpointRoot(url: string): string {
  return url.replace(/\/+$/, "").replace(/\/v1$/, "");
}

/** Sends `call` to the endpoint whose root is `root`. */
export async function send(root: string, call: HttpCall, o: SendOptions): Promise<HttpOutcome> {
  o.signal?.throwIfAborted();
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), o.timeoutMs);
  try {
    const headers: Record<string, string> = { accept: "application/json" };
    if (call.body !== undefined) headers["content-type"] = "application/json";
    if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
    const response = await fetch(`${root}${call.path}`, {
      method: call.method,
      headers,
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
      signal: o.signal ? AbortSignal.any([o.signal, timeout.signal]) : timeout.signal,
    });
    const text = await response.text();
    if (response.ok) return { kind: "ok", status: response.status, body: parsed(text) };
    return { kind: "http", status: response.status, message: serverMessage(text) };
  } catch (e) {
    if (o.signal?.aborted) throw o.signal.reason;
    if (timeout.signal.aborted) return { kind: "timeout", message: `timed out after ${o.timeoutMs} ms` };
    const err = e as Error & { cause?: { message?: string; code?: string } };
    return {
      kind: "network",
      message: `network error: ${err.cause?.code ?? err.cause?.message ?? err.message}`,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** One line for logs and errors: "HTTP 400: the message", "network error: ECONNREFUSED". */
export function describeOutcome(outcome: HttpOutcome): string {
  switch (outcome.kind) {
    case "ok":
      return `HTTP ${outcome.status}`;
    case "http":
      return `HTTP ${outcome.status}: ${outcome.message}`;
    default:
      return outcome.message;
  }
}

/**
 * Whether asking again (here or elsewhere) may succeed: network errors, timeouts, 5xx, 408 and
 * 429. Any other 4xx says the request itself is wrong.
 */
export function retryable(outcome: HttpOutcome): boolean {
  if (outcome.kind === "network" || outcome.kind === "timeout") return true;
  if (outcome.kind === "http")
    return outcome.status >= 500 || outcome.status === 408 || outcome.status === 429;
  return false;
}

/**
 * Whether the failure is the server's own (it is down, overloaded past answering, broken):
 * network errors, timeouts and 5xx count toward setting an endpoint aside; 408 and 429 do not.
 */
export function serverFault(outcome: HttpOutcome): boolean {
  return retryable(outcome) && !(outcome.kind === "http" && outcome.status < 500);
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The server's error message from an error body ({error: {message}}, {message}, {detail}, or text). */
function serverMessage(text: string): string {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const error = body.error as { message?: unknown } | string | undefined;
    const message =
      typeof error === "string"
        ? error
        : (error?.message ?? body.message ?? body.error_message ?? body.detail ?? undefined);
    if (typeof message === "string" && message) return excerpt(message);
    if (message !== undefined) return excerpt(JSON.stringify(message));
  } catch {
    // not JSON: the text itself
  }
  return text ? excerpt(text) : "(empty answer)";
}

function excerpt(text: string, max = 500): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}
