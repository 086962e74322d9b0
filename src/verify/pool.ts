/**
 * A pool of persistent worker threads that run comparisons with a time limit.
 * Each comparison has a cooperative deadline inside the worker and a hard one
 * here: a worker that overruns it is terminated and replaced, and the caller
 * gets "not equal, timed out" — the caller is never blocked. Idle workers are
 * unref'd, so they never keep the process alive; close() ends them.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { type VerifyOptionsInput, VerifyOptionsSchema } from "./config.ts";
import type { VerifyResult } from "./verify.ts";
import type { WorkerRequest } from "./worker.ts";

export interface VerifierPoolOptions {
  /** Worker threads (default: 2, or fewer cores). */
  workers?: number;
  /** Extra milliseconds past a comparison's own limit before its worker is killed (default 100). */
  graceMs?: number;
}

interface Job {
  request: WorkerRequest;
  timeoutMs: number;
  resolve: (r: VerifyResult | null) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job: Job | null;
  timer: NodeJS.Timeout | null;
}

/** The bootstrap module: registers tsx in the worker, then loads worker.ts. */
function workerUrl(): URL {
  const target = new URL("./worker.ts", import.meta.url).href;
  let code = `await import(${JSON.stringify(target)});`;
  if (target.endsWith(".ts")) {
    const tsx = import.meta.resolve("tsx/esm/api");
    code = `import { register } from ${JSON.stringify(tsx)}; register(); ${code}`;
  }
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

function timedOutResult(ms: number): VerifyResult {
  return {
    equivalent: false,
    gold: { parsed: [], text: null, via: "none" },
    pred: { parsed: [], text: null, via: "none" },
    ms: Math.round(ms * 1000) / 1000,
    timedOut: true,
  };
}

export class VerifierPool {
  private readonly size: number;
  private readonly graceMs: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  /** Workers killed for overrunning their hard limit. */
  hardTimeouts = 0;

  constructor(opts: VerifierPoolOptions = {}) {
    this.size = Math.max(1, opts.workers ?? Math.min(2, availableParallelism()));
    this.graceMs = opts.graceMs ?? 100;
  }

  /** Compares `pred` with `gold` in a worker; resolves within the time limit (plus a small grace). */
  verify(gold: string, pred: string, options: VerifyOptionsInput = {}): Promise<VerifyResult> {
    const opts = VerifyOptionsSchema.parse(options);
    const id = this.nextId++;
    return this.submit(
      { kind: "verify", id, gold, pred, options: opts },
      opts.timeoutMs,
    ) as Promise<VerifyResult>;
  }

  /** Compares many pairs concurrently (results in input order). */
  verifyMany(
    pairs: { gold: string; pred: string; options?: VerifyOptionsInput }[],
    options: VerifyOptionsInput = {},
  ): Promise<VerifyResult[]> {
    return Promise.all(pairs.map((p) => this.verify(p.gold, p.pred, { ...options, ...p.options })));
  }

  /** Test hook: occupies a worker with a busy loop of `ms` that only the hard limit can stop. */
  block(ms: number, timeoutMs: number): Promise<VerifyResult | null> {
    return this.submit({ kind: "block", id: this.nextId++, ms }, timeoutMs);
  }

  /** Ends all workers; pending comparisons are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error("verifier pool closed"));
    await Promise.all(
      this.slots.splice(0).map((s) => {
        if (s.timer) clearTimeout(s.timer);
        s.job?.reject(new Error("verifier pool closed"));
        return s.worker.terminate();
      }),
    );
  }

  private submit(request: WorkerRequest, timeoutMs: number): Promise<VerifyResult | null> {
    if (this.closed) return Promise.reject(new Error("verifier pool closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ request, timeoutMs, resolve, reject });
      this.pump();
    });
  }

  private spawn(): Slot {
    const worker = new Worker(workerUrl(), { execArgv: [] });
    const slot: Slot = { worker, ready: false, job: null, timer: null };
    // A starting worker stays ref'd (a job is waiting for it); idle workers are unref'd.
    worker.on("message", (m: { ready?: boolean; id?: number; result?: VerifyResult | null }) => {
      if (m.ready) {
        slot.ready = true;
        this.pump();
        if (!slot.job) worker.unref();
        return;
      }
      const job = slot.job;
      if (!job || job.request.id !== m.id) return;
      this.finish(slot);
      job.resolve(m.result ?? null);
      this.pump();
    });
    worker.on("error", (e) => {
      const job = slot.job;
      this.drop(slot);
      if (job) job.reject(new Error(`verifier worker failed: ${e.message}`));
      else if (!slot.ready)
        for (const j of this.queue.splice(0))
          j.reject(new Error(`verifier worker failed to start: ${e.message}`));
      this.pump();
    });
    worker.on("exit", () => {
      if (this.slots.includes(slot)) {
        const job = slot.job;
        this.drop(slot);
        job?.reject(new Error("verifier worker exited"));
        this.pump();
      }
    });
    this.slots.push(slot);
    return slot;
  }

  private finish(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.job = null;
    slot.worker.unref();
  }

  private drop(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
  }

  private pump(): void {
    if (this.closed) return;
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => s.ready && !s.job);
      if (!slot) {
        if (this.slots.length < this.size) this.spawn();
        return;
      }
      const job = this.queue.shift() as Job;
      slot.job = job;
      slot.worker.ref();
      const started = performance.now();
      const s = slot;
      slot.timer = setTimeout(() => {
        // Hard limit: the worker did not answer in time. Replace it; the caller gets "timed out".
        this.hardTimeouts++;
        this.drop(s);
        s.worker.removeAllListeners("exit");
        void s.worker.terminate();
        job.resolve(job.request.kind === "verify" ? timedOutResult(performance.now() - started) : null);
        this.pump();
      }, job.timeoutMs + this.graceMs);
      slot.worker.postMessage(job.request);
    }
  }
}

let shared: VerifierPool | null = null;

/** A process-wide pool (created on first use). */
export function sharedPool(): VerifierPool {
  shared ??= new VerifierPool();
  return shared;
}

/** Closes the process-wide pool, if any. */
export async function closeSharedPool(): Promise<void> {
  const p = shared;
  shared = null;
  await p?.close();
}
