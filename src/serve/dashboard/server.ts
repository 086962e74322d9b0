/**
 * `reasonrl dashboard`'s web server (hono on Node's http server): the page
 * (page/: index.html, app.js, style.css, plus uPlot served from
 * node_modules), the JSON API (api.ts) and the live stream (live.ts) over the
 * run stores under one folder.
 *
 * Safe by default: it listens on loopback only, and then answers only requests
 * addressed to a loopback name (a web page elsewhere cannot reach it through a
 * DNS name rebound to 127.0.0.1); stores are opened read-only; the page is
 * served with a content security policy that allows only its own scripts, and
 * it writes all text (completions are model output) as text, never as HTML.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { type ServerType, serve } from "@hono/node-server";
import { Hono } from "hono";
import { apiRoutes, errorStatus } from "./api.ts";
import { liveHandler } from "./live.ts";
import { RunRegistry } from "./runs.ts";

const require = createRequire(import.meta.url);

const page = (file: string) => fileURLToPath(new URL(`page/${file}`, import.meta.url));
const JS = "text/javascript; charset=utf-8";

/** The files of the page: URL path -> [file, content type]. Nothing else is served from disk. */
const STATIC: Record<string, [string, string]> = {
  "/": [page("index.html"), "text/html; charset=utf-8"],
  "/style.css": [page("style.css"), "text/css; charset=utf-8"],
  "/app.js": [page("app.js"), JS],
  "/dom.js": [page("dom.js"), JS],
  "/charts.js": [page("charts.js"), JS],
  "/rollouts.js": [page("rollouts.js"), JS],
  "/evals.js": [page("evals.js"), JS],
  "/uplot.js": [require.resolve("uplot/dist/uPlot.esm.js"), JS],
  "/uplot.css": [require.resolve("uplot/dist/uPlot.min.css"), "text/css; charset=utf-8"],
};

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** True for a loopback address or name (127.x, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export interface DashboardAppOptions {
  /** Answer only requests whose Host header is a loopback name (default true). */
  loopbackOnly?: boolean;
  /** Aborting it ends the live streams (the server closing). */
  closing?: AbortSignal;
}

/** The dashboard's hono app over the runs of `runs` (mount it, or let startDashboard listen with it). */
export function createDashboardApp(runs: RunRegistry, o: DashboardAppOptions = {}): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    const status = errorStatus(err);
    if (status === 500) console.error("reasonrl dashboard:", err);
    return c.json({ error: err.message }, status);
  });
  app.notFound((c) => c.json({ error: `no page ${c.req.path}` }, 404));
  app.use("*", async (c, next) => {
    const host = (c.req.header("host") ?? "").replace(/:\d+$/, "");
    if ((o.loopbackOnly ?? true) && !isLoopback(host))
      return c.json({ error: `this dashboard answers only on loopback, not for host "${host}"` }, 403);
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.header(k, v);
  });
  for (const [path, [file, type]] of Object.entries(STATIC))
    app.get(path, async (c) =>
      c.body(await readFile(file), 200, { "content-type": type, "cache-control": "no-cache" }),
    );
  apiRoutes(app, runs);
  app.get("/api/live", liveHandler(runs, o.closing ?? new AbortController().signal));
  return app;
}

export interface DashboardOptions {
  /** The folder whose run folders are shown (runs/, or an eval output folder). */
  dir: string;
  /** Default 127.0.0.1 (loopback): other machines cannot connect unless you choose so. */
  host?: string;
  /** Default 8421; 0 picks a free port. */
  port?: number;
}

/** A listening dashboard. */
export interface RunningDashboard {
  /** http://host:port/ */
  url: string;
  port: number;
  /** Ends the live streams, stops listening and closes the stores. */
  close(): Promise<void>;
}

/** The dashboard's default port. */
export const DEFAULT_PORT = 8421;

/** Serves the dashboard; resolves once listening. */
export async function startDashboard(o: DashboardOptions): Promise<RunningDashboard> {
  const host = o.host ?? "127.0.0.1";
  const runs = new RunRegistry(o.dir);
  const closing = new AbortController();
  const app = createDashboardApp(runs, { loopbackOnly: isLoopback(host), closing: closing.signal });
  let server: ServerType;
  try {
    server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: host, port: o.port ?? DEFAULT_PORT }, () => resolve(s));
      s.once("error", reject);
    });
  } catch (err) {
    runs.close();
    throw new Error(`cannot listen on ${host}:${o.port ?? DEFAULT_PORT}: ${(err as Error).message}`);
  }
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: async () => {
      closing.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      (server as ServerType & { closeAllConnections?(): void }).closeAllConnections?.();
      await closed;
      runs.close();
    },
  };
}
