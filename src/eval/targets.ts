/**
 * What `reasonrl eval` evaluates: a local model folder, an OpenAI-compatible
 * server or a GGUF file. The code lives in src/generate/targets.ts, shared
 * with the curation steps that call models (src/data); this file keeps eval's
 * import path.
 */
export { type OpenedTarget, openedTarget, openTarget, type TargetSpec } from "../generate/targets.ts";
