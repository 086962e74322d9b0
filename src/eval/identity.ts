/**
 * Which model an evaluation's samples came from, and what to call it.
 *
 * The identity goes into the output folder's run.json: a folder holding
 * samples of another identity is refused, so a rerun never mixes or reuses
 * another model's samples (evaluate.ts). It is cheap to compute and does not
 * depend on where the files are:
 *
 * - a local model folder: its fingerprint (src/model/fingerprint.ts: its
 *   configs, tokenizer files, weights headers and samples of the weights'
 *   data, so retrained weights of the same shapes differ) and the dtype;
 * - a GGUF file: its fingerprint (size, head and samples of the data);
 * - a server: its base URL and the model id it serves (asked at
 *   GET /v1/models when not given), since one port serves one model today and
 *   another tomorrow.
 *
 * Labels (the tables' row name and the default folder runs/eval/<label>) are
 * the model's name: a folder's or file's name, but for a run's model
 * (runs/X/final) the run's name X, and for a checkpoint
 * (runs/X/checkpoints/best) "X-best"; a served model id that is a path is
 * named the same way, any other id is used as it is.
 */
import { basename, resolve, sep } from "node:path";

// The fingerprints live in the model layer, which the curation steps' caches use too.
export { fileFingerprint, modelFolderFingerprint } from "../model/fingerprint.ts";

/** The label of a model folder or file (see the file's comment). */
export function pathLabel(path: string): string {
  const parts = resolve(path).split(sep).filter(Boolean);
  const checkpoints = parts.lastIndexOf("checkpoints");
  if (checkpoints > 0 && checkpoints < parts.length - 1)
    return [parts[checkpoints - 1], ...parts.slice(checkpoints + 1)].join("-");
  const name = basename(resolve(path)).replace(/\.(gguf|safetensors)$/i, "");
  if (name === "final" && parts.length >= 2) return parts[parts.length - 2];
  return name || "model";
}

/** The label of a served model id: a path is named as pathLabel names it, anything else as it is. */
export function servedModelLabel(id: string): string {
  const pathLike = /^(\/|\.{1,2}\/|~\/|[A-Za-z]:\\)/.test(id) || /\.gguf$/i.test(id);
  return pathLike ? pathLabel(id.replace(/^~\//, "")) : id;
}
