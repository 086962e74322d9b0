/**
 * The clients of the serve load storm: a seeded mix of well-behaved, rude and
 * broken HTTP clients, each request classified by how it ended.
 *
 * Outcomes: "served" (200 with a complete answer: JSON with choices, or an
 * SSE stream ending in [DONE]), "http_<status>" (an error answer in OpenAI's
 * shape), "client_disconnect" (the client left on purpose), and the failures:
 * "stream_broken" (a 200 stream without [DONE]), "bad_body" (a body that is
 * neither), "response_cut" (the connection dropped during the answer),
 * "connection_<code>" (the connection failed before an answer began).
 *
 * A request whose kept-alive connection turns out closed by the server before
 * a byte of answer came (Node's `req.reusedSocket` with ECONNRESET: the server
 * closed the idle connection as the client reused it) is sent again on another
 * connection, as Node's documentation advises clients to (up to 4 tries, as
 * the pool may hold several such connections); `resent` says so.
 */

import { readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { seededRandom } from "../../src/model/random.ts";

/** One request of the storm and how its client behaves. */
export interface Call {
  /** What the storm calls this kind of request (the key of the figures). */
  kind: string;
  method: "GET" | "POST" | "PUT";
  path: string;
  /** The body, sent in one piece or in `pieces` pieces `pauseMs` apart (a slow sender). */
  body?: string;
  pieces?: number;
  pauseMs?: number;
  /** Announces a content-length this large but sends only `body` (an oversized upload, cut early). */
  declaredLength?: number;
  /** Sends a chunked body of this many bytes (an oversized upload sent in full). */
  chunkedBytes?: number;
  /** The client goes away this long after sending. */
  abortAfterMs?: number;
  /** Reads the response slowly: pauses this long after each piece. */
  readPauseMs?: number;
  /** The answer should be an SSE stream. */
  stream?: boolean;
  /** The outcomes this request may end with; anything else counts as unexpected. */
  expected: readonly string[];
}

/** How one request ended, and how long it took (first byte sent to last byte read). */
export interface Result {
  kind: string;
  outcome: string;
  ms: number;
  expected: boolean;
  /** It was sent again after its reused connection was found closed. */
  resent: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A body size beyond the server's default limit (16 MiB). */
const OVERSIZED = 17 * 1024 * 1024;

/** Sends `call` to the server at `base` (http://host:port) through `agent`. */
export async function send(base: string, agent: http.Agent, call: Call): Promise<Result> {
  const start = performance.now();
  for (let tries = 1; ; tries++) {
    const r = await sendOnce(base, agent, call, start, tries < MAX_TRIES);
    if (r !== "resend") return { ...r, resent: tries > 1 };
  }
}

/** Tries of a request whose kept-alive connections keep turning out closed (each a different one). */
const MAX_TRIES = 4;

function result(call: Call, outcome: string, start: number, resent = false): Result {
  const ms = performance.now() - start;
  return { kind: call.kind, outcome, ms, expected: call.expected.includes(outcome), resent };
}

/** One try; "resend" when a reused connection was found closed before any answer. */
function sendOnce(
  base: string,
  agent: http.Agent,
  call: Call,
  start: number,
  mayResend = true,
): Promise<Result | "resend"> {
  return new Promise<Result | "resend">((resolve) => {
    let settled = false;
    let leaving = false;
    let answered = false;
    const done = (outcome: string | "resend") => {
      if (settled) return;
      settled = true;
      resolve(outcome === "resend" ? outcome : result(call, outcome, start));
    };
    const headers: Record<string, string | number> = { "content-type": "application/json" };
    if (call.declaredLength !== undefined) headers["content-length"] = call.declaredLength;
    else if (call.body !== undefined) headers["content-length"] = Buffer.byteLength(call.body);
    const req = http.request(`${base}${call.path}`, { method: call.method, agent, headers }, (res) => {
      answered = true;
      const pieces: Buffer[] = [];
      res.on("data", (d: Buffer) => {
        pieces.push(d);
        if (call.readPauseMs) {
          res.pause();
          setTimeout(() => res.resume(), call.readPauseMs);
        }
      });
      res.on("end", () => {
        const text = Buffer.concat(pieces).toString("utf8");
        done(classify(res.statusCode ?? 0, text, call.stream ?? false));
        if (call.declaredLength !== undefined || call.chunkedBytes !== undefined) req.destroy();
      });
      res.on("error", () => done(leaving ? "client_disconnect" : "response_cut"));
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (leaving) return done("client_disconnect");
      const stale = mayResend && req.reusedSocket && !answered && err.code === "ECONNRESET";
      done(stale ? "resend" : `connection_${err.code ?? "error"}`);
    });
    if (call.abortAfterMs !== undefined)
      setTimeout(() => {
        leaving = true;
        req.destroy();
        done("client_disconnect");
      }, call.abortAfterMs);
    writeBody(req, call).catch(() => {
      // the server answered (and closed) before the whole body was sent: the response decides
    });
  });
}

/** Writes the call's body the way its client does, then ends the request (not for a cut oversized upload). */
async function writeBody(req: http.ClientRequest, call: Call): Promise<void> {
  if (call.chunkedBytes !== undefined) {
    const piece = Buffer.alloc(1 << 20, 0x61);
    for (let sent = 0; sent < call.chunkedBytes && !req.destroyed; sent += piece.length) {
      if (!req.write(piece)) await new Promise((r) => req.once("drain", r));
    }
    req.end();
    return;
  }
  const body = call.body ?? "";
  const pieces = call.pieces ?? 1;
  const size = Math.ceil(body.length / pieces);
  for (let i = 0; i < pieces; i++) {
    if (i > 0) await sleep(call.pauseMs ?? 0);
    if (req.destroyed) return;
    req.write(body.slice(i * size, (i + 1) * size));
  }
  if (call.declaredLength === undefined) req.end();
}

/** The outcome of a finished response. */
function classify(status: number, text: string, stream: boolean): string {
  if (status !== 200) {
    try {
      const e = JSON.parse(text).error;
      return typeof e?.message === "string" && typeof e?.type === "string" ? `http_${status}` : "bad_body";
    } catch {
      return "bad_body";
    }
  }
  if (stream) {
    const events = text.split("\n\n").filter((e) => e.startsWith("data: "));
    if (events.at(-1) !== "data: [DONE]") return "stream_broken";
    try {
      for (const e of events.slice(0, -1)) JSON.parse(e.slice(6));
    } catch {
      return "stream_broken";
    }
    return "served";
  }
  try {
    const body = JSON.parse(text);
    return Array.isArray(body.choices) || Array.isArray(body.data) ? "served" : "bad_body";
  } catch {
    return "bad_body";
  }
}

/** A short arithmetic prompt. */
function prompt(random: () => number): string {
  const n = () => Math.floor(random() * 100);
  return `Compute ${n()}+${n()}-${n()}.`;
}

const CHAT = "/v1/chat/completions";
const COMPLETIONS = "/v1/completions";

/** A POST of `body` to `path` ending as `expected`, with the client behaviour in `more`. */
function post(kind: string, path: string, expected: string[], body?: string, more: Partial<Call> = {}): Call {
  return { kind, method: "POST", path, expected, body, ...more };
}

/** A request of the storm, drawn with the weights below. */
export function drawCall(random: () => number): Call {
  const tokens = 1 + Math.floor(random() * 24);
  const chat = (extra: object = {}) =>
    JSON.stringify({
      messages: [{ role: "user", content: prompt(random) }],
      max_tokens: tokens,
      temperature: random(),
      ...extra,
    });
  const completion = (extra: object = {}) =>
    JSON.stringify({ prompt: prompt(random), max_tokens: tokens, n: 1 + Math.floor(random() * 3), ...extra });
  const served = ["served"];
  const left = ["client_disconnect", "served"];
  const stream = { stream: true };
  const usage = () => ({ stream: true, stream_options: { include_usage: random() < 0.5 } });
  const kinds: Array<[number, () => Call]> = [
    [22, () => post("chat_stream", CHAT, served, chat(usage()), stream)],
    [22, () => post("completion", COMPLETIONS, served, completion())],
    [8, () => post("completion_stream", COMPLETIONS, served, completion(usage()), stream)],
    [
      12,
      () =>
        post("disconnect_mid_stream", CHAT, left, chat({ stream: true, max_tokens: 64 }), {
          stream: true,
          abortAfterMs: random() * 200,
        }),
    ],
    [
      5,
      () =>
        post("disconnect_waiting", COMPLETIONS, left, completion({ max_tokens: 64 }), {
          abortAfterMs: random() * 200,
        }),
    ],
    [
      6,
      () =>
        post("slow_sender", COMPLETIONS, served, completion(), { pieces: 4, pauseMs: 50 + random() * 250 }),
    ],
    [
      6,
      () =>
        post("slow_reader", CHAT, served, chat(stream), { stream: true, readPauseMs: 20 + random() * 80 }),
    ],
    [5, () => post("malformed_json", COMPLETIONS, ["http_400"], `{"prompt": "${prompt(random)}",`)],
    [4, () => post("wrong_types", CHAT, ["http_400"], JSON.stringify({ messages: "hi", max_tokens: "x" }))],
    [2, () => post("context_overflow", COMPLETIONS, ["http_400"], completion({ max_tokens: 100_000 }))],
    [2, () => post("unknown_path", "/v1/embeddings", ["http_404"], "{}")],
    [2, () => ({ ...post("wrong_method", CHAT, ["http_405"], chat()), method: "PUT" as const })],
    [
      3,
      () =>
        post("oversized_announced", COMPLETIONS, ["http_413"], completion(), { declaredLength: OVERSIZED }),
    ],
    [1, () => post("oversized_sent", COMPLETIONS, ["http_413"], undefined, { chunkedBytes: OVERSIZED })],
  ];
  const total = kinds.reduce((s, [w]) => s + w, 0);
  let r = random() * total;
  for (const [w, make] of kinds) {
    r -= w;
    if (r < 0) return make();
  }
  return kinds[0][1]();
}

/**
 * `clients` clients, each sending one request after another until `seconds` pass (or `until`
 * aborts); every result.
 */
export async function storm(
  base: string,
  o: { clients: number; seconds: number; seed: number; until?: AbortSignal },
): Promise<Result[]> {
  const { clients, seconds, seed, until } = o;
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients * 2 });
  const end = performance.now() + seconds * 1000;
  const results: Result[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const random = seededRandom(seed * 100_003 + i);
      while (performance.now() < end && !until?.aborted)
        results.push(await send(base, agent, drawCall(random)));
    }),
  );
  agent.destroy();
  return results;
}

/** Counts by key, largest first, as "key n, key n". */
export function counts(items: readonly string[]): string {
  const map = new Map<string, number>();
  for (const k of items) map.set(k, (map.get(k) ?? 0) + 1);
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
}

/** Value at quantile q (0..1) of sorted numbers. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Resident memory of a process in MiB (Linux: /proc/PID/status). */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kib) / 1024;
}

/**
 * A module to preload into the server (node --expose-gc --import it): on SIGUSR2 it collects
 * garbage and prints `heap_probe <heapUsed MiB> <external MiB>` to stderr. Returns the node
 * arguments that load it, written into `dir`.
 */
export async function heapProbeArgs(dir: string): Promise<string[]> {
  const file = join(dir, "heap-probe.mjs");
  await writeFile(
    file,
    `process.on("SIGUSR2", () => {
  globalThis.gc();
  const m = process.memoryUsage();
  process.stderr.write("heap_probe " + m.heapUsed / 2 ** 20 + " " + m.external / 2 ** 20 + "\\n");
});
`,
  );
  return ["--expose-gc", "--import", pathToFileURL(file).href];
}

/** Asks a server started with heapProbeArgs for its heap after a full collection: [heapUsed, external] in MiB. */
export async function probeHeap(
  child: { pid?: number; kill(signal: NodeJS.Signals): boolean },
  output: { stderr: string },
): Promise<[number, number]> {
  const seen = output.stderr.length;
  child.kill("SIGUSR2");
  for (let i = 0; i < 400; i++) {
    const m = /heap_probe ([\d.]+) ([\d.]+)\n/.exec(output.stderr.slice(seen));
    if (m) return [Number(m[1]), Number(m[2])];
    await sleep(25);
  }
  throw new Error(`the server did not report its heap: ${output.stderr.slice(seen)}`);
}
