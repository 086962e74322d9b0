/**
 * reasonrl's math answer verifier: extraction of the final answer from a model
 * output, parsing of LaTeX and plain numbers, and equivalence with a gold
 * answer under a time limit. Most callers want `verify()` (async, worker pool)
 * or a `VerifierPool` of their own; `verifySync` blocks the calling thread.
 */
import type { VerifyOptionsInput } from "./config.ts";
import { sharedPool } from "./pool.ts";
import type { VerifyResult } from "./verify.ts";

export { type Node, show } from "./ast.ts";
export {
  ANSWER_EXTRACTION,
  EXTRACTION_PRESETS,
  type ExtractionConfig,
  ExtractionConfigSchema,
  type ExtractionPresetName,
  GOLD_EXTRACTION,
  resolveExtraction,
  type VerifyOptions,
  type VerifyOptionsInput,
  VerifyOptionsSchema,
} from "./config.ts";
export { type Extracted, extractAnswer } from "./extract.ts";
export { normalizeAnswer } from "./normalize.ts";
export { parseMath } from "./parser.ts";
export { closeSharedPool, sharedPool, VerifierPool, type VerifierPoolOptions } from "./pool.ts";
export { type ParsedSide, type VerifyResult, verifySync } from "./verify.ts";

/** Compares `pred` with `gold` in the process-wide worker pool (close it with closeSharedPool()). */
export function verify(gold: string, pred: string, options: VerifyOptionsInput = {}): Promise<VerifyResult> {
  return sharedPool().verify(gold, pred, options);
}
