/**
 * Server-sent events as OpenAI streams them: one `data: {json}\n\n` event per
 * chunk and a final `data: [DONE]\n\n`. When the client goes away (its
 * request is aborted, or the response stream is cancelled) the producer's
 * signal aborts, which stops the request's sequences. The stream counts as
 * in flight for the server's drain until its [DONE] is written.
 */
import type { RequestScope } from "./drain.ts";
import { serverError } from "./errors.ts";

/** Sends one chunk (an object, serialised as JSON). */
export type SendChunk = (chunk: object) => void;

/**
 * A streaming response whose events `produce` sends. An error it throws is sent as an
 * `{"error": ...}` event (the status line is long gone), then [DONE].
 */
export function sseResponse(
  scope: RequestScope,
  produce: (send: SendChunk, signal: AbortSignal) => Promise<void>,
): Response {
  const clientSignal = scope.signal;
  const release = scope.drain.hold();
  const stop = new AbortController();
  const onClientGone = () => stop.abort(clientSignal.reason);
  if (clientSignal.aborted) onClientGone();
  clientSignal.addEventListener("abort", onClientGone, { once: true });
  const encoder = new TextEncoder();
  let open = true;
  const stream = new ReadableStream<Uint8Array>({
    start(out) {
      const write = (data: string) => {
        if (!open) return;
        try {
          out.enqueue(encoder.encode(`data: ${data}\n\n`));
        } catch {
          open = false; // the consumer is gone
        }
      };
      produce((chunk) => write(JSON.stringify(chunk)), stop.signal)
        .catch((err) => {
          if (!stop.signal.aborted) write(JSON.stringify(serverError(err).body()));
        })
        .finally(() => {
          write("[DONE]");
          clientSignal.removeEventListener("abort", onClientGone);
          if (open) {
            open = false;
            try {
              out.close();
            } catch {
              // already closed by a cancel
            }
          }
          release();
        });
    },
    cancel(reason) {
      open = false;
      stop.abort(reason);
    },
  });
  return new Response(stream, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
    },
  });
}
