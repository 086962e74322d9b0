/**
 * The clients of the serve load storm: a seeded mix of well-behaved, rude and
 * broken HTTP clients, each request classified by how it ended.
 *
 * Outcomes: "served" (200 with a complete answer: JSON with choices, or an
 * SSE stream ending in [DONE]), "http_<status>" (an error answer in OpenAI's
 * shape), "client_disconnect" (the client left on purpose), and the failures:
 * "stream_broken" (a 200 stream without [DONE]), "bad_body" (a body that is
 * neither), "connection_<code>" (the server dropped the connection).
 *
 * A request whose kept-alive connection turns out closed by the server before
 * a byte of answer came (Node's `req.reusedSocket` with ECONNRESET: the server
 * closed the idle connection as the client reused it) is sent again once on a
 * new connection, as Node's documentation advises clients to; `resent` says so.
 */
import http from "node:http";

/** A seeded generator of uniform numbers in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

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

/** Sends `call` to the server at `base` (http://host:port) through `agent`. */
export async function send(base: string, agent: http.Agent, call: Call): Promise<Result> {
  const start = performance.now();
  const first = await sendOnce(base, agent, call, start);
  if (first !== "resend") return first;
  const again = await sendOnce(base, agent, call, start, false);
  return again === "resend" ? result(call, "connection_ECONNRESET", start, true) : { ...again, resent: true };
}

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
      res.on("error", () => done(leaving ? "client_disconnect" : "connection_reset"));
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

/** Value at quantile q (0..1) of sorted numbers. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Resident memory of a process in MiB (Linux: /proc/PID/status). */
export async function rssMiB(pid: number): Promise<number> {
  const { readFile } = await import("node:fs/promises");
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kib) / 1024;
}
