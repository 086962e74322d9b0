/**
 * Worker thread of the verifier pool (pool.ts): answers one comparison per
 * message. Started through a small bootstrap that registers tsx, so it runs
 * whether the main thread came from `node --import tsx` or bin/reasonrl.js.
 */
import { parentPort } from "node:worker_threads";
import type { VerifyOptionsInput } from "./config.ts";
import { verifySync } from "./verify.ts";

/** A message to the worker: a comparison, or (for tests of the hard limit) a busy wait. */
export type WorkerRequest =
  | { kind: "verify"; id: number; gold: string; pred: string; options: VerifyOptionsInput }
  | { kind: "block"; id: number; ms: number };

const port = parentPort;
if (port) {
  port.on("message", (m: WorkerRequest) => {
    if (m.kind === "block") {
      const end = performance.now() + m.ms;
      while (performance.now() < end) {
        // deliberately unresponsive: only the pool's hard limit can stop this
      }
      port.postMessage({ id: m.id, result: null });
      return;
    }
    port.postMessage({ id: m.id, result: verifySync(m.gold, m.pred, m.options) });
  });
  port.postMessage({ ready: true });
}
