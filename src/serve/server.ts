/**
 * The OpenAI-compatible HTTP server (hono on Node's http server):
 *
 *   GET  /v1/models            the served model
 *   POST /v1/completions       text or token-id prompts
 *   POST /v1/chat/completions  conversations, through the model's chat template
 *   GET  /health               {"status": "ok"} (no key needed)
 *
 * With an API key, /v1/* answers 401 unless `Authorization: Bearer KEY`.
 * Every failure is answered with OpenAI's error body; nothing a client sends
 * can take the process down (a failing batch fails its requests with 500).
 */
import { timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { type ServerType, serve } from "@hono/node-server";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { chatCompletions } from "./chat.ts";
import { completions } from "./completions.ts";
import { ApiError, serverError } from "./errors.ts";
import type { ServedModel } from "./served-model.ts";

export interface AppOptions {
  /** Requests to /v1/* must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Largest request body accepted, in bytes (default 16 MiB). */
  maxBodyBytes?: number;
  /** Where unexpected (500) errors are reported; default console.error. */
  logError?: (err: unknown) => void;
}

/** The hono app serving `model` (mount it anywhere, or let startServer listen with it). */
export function createApp(model: ServedModel, options: AppOptions = {}): Hono {
  const app = new Hono();
  const logError = options.logError ?? ((err) => console.error("reasonrl serve:", err));

  app.onError((err) => {
    if (err instanceof ApiError) return Response.json(err.body(), { status: err.status });
    if (err instanceof Error && err.name === "AbortError") return new Response(null, { status: 499 }); // client gone
    logError(err);
    const e = serverError(err);
    return Response.json(e.body(), { status: e.status });
  });
  app.notFound((c) => {
    const e = new ApiError(
      404,
      `no route ${c.req.method} ${c.req.path}`,
      "not_found_error",
      null,
      "not_found",
    );
    return Response.json(e.body(), { status: 404 });
  });

  app.get("/health", (c) => c.json({ status: "ok" }));

  if (options.apiKey !== undefined) {
    const expected = Buffer.from(`Bearer ${options.apiKey}`);
    app.use("/v1/*", async (c, next) => {
      const given = Buffer.from(c.req.header("authorization") ?? "");
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new ApiError(
          401,
          "Incorrect API key provided.",
          "authentication_error",
          null,
          "invalid_api_key",
        );
      }
      await next();
    });
  }
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: options.maxBodyBytes ?? 16 * 1024 * 1024,
      onError: () => {
        throw new ApiError(
          413,
          "the request body is too large",
          "invalid_request_error",
          null,
          "body_too_large",
        );
      },
    }),
  );

  app.get("/v1/models", (c) =>
    c.json({
      object: "list",
      data: [
        {
          id: model.id,
          object: "model",
          created: model.created,
          owned_by: "reasonrl",
          max_model_len: model.contextLength,
        },
      ],
    }),
  );
  app.post("/v1/completions", async (c) => completions(model, await jsonBody(c.req.raw), c.req.raw.signal));
  app.post("/v1/chat/completions", async (c) =>
    chatCompletions(model, await jsonBody(c.req.raw), c.req.raw.signal),
  );
  return app;
}

/** The request's JSON body; a 400 in OpenAI's words when it is not JSON. */
async function jsonBody(request: Request): Promise<unknown> {
  const text = await request.text();
  try {
    return JSON.parse(text);
  } catch (err) {
    throw ApiError.invalid(
      null,
      `We could not parse the JSON body of your request (${(err as Error).message}). ` +
        "The OpenAI API expects a JSON payload.",
      "invalid_json",
    );
  }
}

export interface ListenOptions extends AppOptions {
  /** Default 127.0.0.1 (loopback): other machines cannot connect unless you choose so. */
  host?: string;
  /** Default 8000; 0 picks a free port. */
  port?: number;
}

/** A listening server. */
export interface RunningServer {
  /** http://host:port (no trailing slash); the API lives under /v1. */
  url: string;
  port: number;
  /** Stops listening, ends open connections (streams in flight stop) and waits for the engine to idle. */
  close(): Promise<void>;
}

/** Serves `model` over HTTP; resolves once listening. */
export async function startServer(model: ServedModel, options: ListenOptions = {}): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const app = createApp(model, options);
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 8000 }, () => resolve(s));
    s.once("error", reject);
  });
  server.on("error", (err) => (options.logError ?? console.error)(err));
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    port,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      if ("closeAllConnections" in server) server.closeAllConnections();
      await closed;
      await model.idle();
    },
  };
}
