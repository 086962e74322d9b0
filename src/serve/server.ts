/**
 * The OpenAI-compatible HTTP server (hono on Node's http server):
 *
 *   GET  /v1/models                 the base model and the loaded LoRA adapters
 *   GET  /v1/models/{id}            one of them, or 404
 *   POST /v1/completions            text or token-id prompts
 *   POST /v1/chat/completions       conversations, through the model's chat template
 *   POST /v1/load_lora_adapter      {"lora_name", "lora_path"}: a PEFT adapter, then selectable as `model`
 *   POST /v1/unload_lora_adapter    {"lora_name"}
 *   GET  /health                    {"status": "ok"} (no key needed)
 *
 * With an API key, /v1/* answers 401 unless `Authorization: Bearer KEY`.
 * Every failure is answered with OpenAI's error body (a wrong method on a
 * known path is a 405); nothing a client sends can take the process down (a
 * failing batch fails its requests with 500). Closing drains: new requests
 * get 503, those in flight finish or are cut short cleanly (see drain.ts).
 */
import type { AddressInfo } from "node:net";
import { type ServerType, serve } from "@hono/node-server";
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { adapterRoutes } from "./adapter-routes.ts";
import { requireApiKey } from "./auth.ts";
import { chatCompletions } from "./chat.ts";
import { completions } from "./completions.ts";
import { Drain, type DrainReport, type RequestScope } from "./drain.ts";
import { ApiError, ShutdownError, serverError } from "./errors.ts";
import type { ServedModel } from "./served-model.ts";

export interface AppOptions {
  /** Requests to /v1/* must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Largest request body accepted, in bytes (default 16 MiB). */
  maxBodyBytes?: number;
  /** Where unexpected (500) errors are reported; default console.error. */
  logError?: (err: unknown) => void;
}

/** The methods each path answers; another method on one of them is a 405. */
const ROUTES: Record<string, string> = {
  "/health": "GET",
  "/v1/models": "GET",
  "/v1/models/:id{.+}": "GET",
  "/v1/completions": "POST",
  "/v1/chat/completions": "POST",
  "/v1/load_lora_adapter": "POST",
  "/v1/unload_lora_adapter": "POST",
};

/** An API handler: the parsed body in, the response out. */
type Handler = (model: ServedModel, body: unknown, scope: RequestScope) => Promise<Response>;

/**
 * The hono app serving `model` (mount it anywhere, or let startServer listen with it). Its
 * requests hold `drain`; once the drain begins it answers 503.
 */
export function createApp(model: ServedModel, options: AppOptions = {}, drain = new Drain()): Hono {
  const app = new Hono();
  const logError = options.logError ?? ((err) => console.error("reasonrl serve:", err));
  const errorResponse = (e: ApiError, headers: Record<string, string> = {}) =>
    Response.json(e.body(), { status: e.status, headers });

  app.onError((err) => {
    if (err instanceof ApiError) return errorResponse(err);
    if (err instanceof Error && err.name === "AbortError") return new Response(null, { status: 499 }); // client gone
    logError(err);
    return errorResponse(serverError(err));
  });
  app.notFound((c) =>
    errorResponse(
      new ApiError(404, `no route ${c.req.method} ${c.req.path}`, "not_found_error", null, "not_found"),
    ),
  );

  // Shutting down: every new request is refused, and its connection closed.
  app.use("*", async (_c, next) => {
    if (!drain.closing) return next();
    const e = new ShutdownError(
      "The server is shutting down and accepts no new requests; send the request again once it is back.",
    );
    return errorResponse(e, { connection: "close" });
  });

  app.get("/health", (c) => c.json({ status: "ok" }));

  if (options.apiKey !== undefined) app.use("/v1/*", requireApiKey(options.apiKey));
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        throw new ApiError(
          413,
          `The request body is larger than this server's limit of ${formatBytes(maxBodyBytes)}.`,
          "invalid_request_error",
          null,
          "body_too_large",
        );
      },
    }),
  );

  modelRoutes(app, model);
  adapterRoutes(app, model, jsonBody);

  /** Parses the body, then runs the handler as a request in flight (refused once the drain cut). */
  const generation = (handler: Handler) => async (c: Context) => {
    const body = await jsonBody(c.req.raw);
    if (drain.cut.aborted) throw new ShutdownError();
    const release = drain.hold();
    try {
      return await handler(model, body, { signal: c.req.raw.signal, drain });
    } finally {
      release();
    }
  };
  app.post("/v1/completions", generation(completions));
  app.post("/v1/chat/completions", generation(chatCompletions));

  refuseOtherMethods(app);
  return app;
}

/**
 * GET /v1/models and /v1/models/{id}: the base model, then the loaded adapters, as vLLM's model
 * cards: `root` is where each was loaded from, `parent` the base an adapter sits on (null for the base).
 */
function modelRoutes(app: Hono, model: ServedModel): void {
  const card = (id: string, created: number, root: string, parent: string | null) => ({
    id,
    object: "model",
    created,
    owned_by: "reasonrl",
    root,
    parent,
    max_model_len: model.contextLength,
  });
  const cards = () => [
    card(model.id, model.created, model.root, null),
    ...model.adapters.list().map((a) => card(a.id, a.created, a.root, a.parent)),
  ];
  app.get("/v1/models", (c) => c.json({ object: "list", data: cards() }));
  app.get("/v1/models/:id{.+}", (c) => {
    const id = c.req.param("id");
    const found = cards().find((m) => m.id === id);
    if (!found)
      throw new ApiError(
        404,
        `The model '${id}' does not exist on this server; it serves ${cards()
          .map((m) => `'${m.id}'`)
          .join(", ")}.`,
        "invalid_request_error",
        "model",
        "model_not_found",
      );
    return c.json(found);
  });
}

/** A 405 naming the method to use, for any other method on the paths of ROUTES (registered after them). */
function refuseOtherMethods(app: Hono): void {
  for (const [path, method] of Object.entries(ROUTES)) {
    app.all(path, (c) => {
      throw new ApiError(
        405,
        `${c.req.method} is not allowed on ${c.req.path}; use ${method}.`,
        "invalid_request_error",
        null,
        "method_not_allowed",
      );
    });
  }
}

/** "16 MiB", "100 KiB", "512 bytes". */
function formatBytes(n: number): string {
  if (n >= 2 ** 20 && n % 2 ** 20 === 0) return `${n / 2 ** 20} MiB`;
  if (n >= 2 ** 10 && n % 2 ** 10 === 0) return `${n / 2 ** 10} KiB`;
  return `${n} bytes`;
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
  /** Requests being worked on now. */
  readonly inFlight: number;
  /**
   * Stops serving: new requests get 503 at once, those in flight have graceMs (default 0) to
   * finish, then are cut short (a stream ends with finish_reason "length" and [DONE], a
   * non-streaming request gets 503); then stops listening, closes the connections and waits for
   * the engine to idle. The model stays loaded (dispose it after). Resolves with what happened.
   */
  close(graceMs?: number): Promise<DrainReport>;
}

/** How long connections may take to go quiet after the drain before they are closed anyway. */
const CONNECTIONS_GRACE_MS = 2000;

/** Serves `model` over HTTP; resolves once listening. */
export async function startServer(model: ServedModel, options: ListenOptions = {}): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const drain = new Drain();
  const app = createApp(model, options, drain);
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 8000 }, () => resolve(s));
    s.once("error", reject);
  });
  server.on("error", (err) => (options.logError ?? console.error)(err));
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host;
  let closing: Promise<DrainReport> | undefined;
  return {
    url: `http://${shown}:${port}`,
    port,
    get inFlight() {
      return drain.inFlight;
    },
    close: (graceMs = 0) => {
      closing ??= (async () => {
        const report = await drain.drain(graceMs);
        await stopListening(server);
        await model.idle();
        return report;
      })();
      return closing;
    },
  };
}

/** Stops listening; idle connections close now, busy ones once quiet, the rest after CONNECTIONS_GRACE_MS. */
async function stopListening(server: ServerType): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const http = server as ServerType & { closeIdleConnections?(): void; closeAllConnections?(): void };
  http.closeIdleConnections?.();
  const timer = setTimeout(() => http.closeAllConnections?.(), CONNECTIONS_GRACE_MS);
  await closed;
  clearTimeout(timer);
}
