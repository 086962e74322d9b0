/**
 * Checks every path a recipe names before anything is loaded or written, so a
 * run never stops on a missing file after minutes of loading a model. Each
 * problem names the recipe field, e.g.
 *
 *     eval.data.path: file not found: data/heldout.jsonl
 *
 * Only the paths the run will read are checked: data.train and eval.data are
 * read by the GRPO stage, sft.data by SFT, model.path always (unless
 * model.init makes it).
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { Recipe } from "./recipe.ts";

/** What is at a path: a file, a folder, or nothing. */
async function kindOf(path: string): Promise<"file" | "folder" | "none"> {
  try {
    return (await stat(path)).isDirectory() ? "folder" : "file";
  } catch {
    return "none";
  }
}

/** The problem with the file a field names, or null when it is a readable file. */
async function fileProblem(field: string, path: string): Promise<string | null> {
  const kind = await kindOf(path);
  if (kind === "none") return `${field}: file not found: ${path}`;
  if (kind === "folder") return `${field}: ${path} is a folder, not a file`;
  return null;
}

/** The problem with a model folder, or null when it has a config, weights and a tokenizer. */
async function modelProblem(model: Recipe["model"]): Promise<string | null> {
  const kind = await kindOf(model.path);
  // A missing folder (or one without config.json) is made by model.init.
  if (model.init && (kind === "none" || (await kindOf(join(model.path, "config.json"))) === "none"))
    return null;
  if (kind === "none") return `model.path: folder not found: ${model.path}`;
  if (kind === "file") return `model.path: ${model.path} is a file, not a model folder`;
  const missing: string[] = [];
  if ((await kindOf(join(model.path, "config.json"))) !== "file") missing.push("config.json");
  const single = await kindOf(join(model.path, "model.safetensors"));
  const index = await kindOf(join(model.path, "model.safetensors.index.json"));
  if (single !== "file" && index !== "file") missing.push("model.safetensors (or its index)");
  if ((await kindOf(join(model.path, "tokenizer.json"))) !== "file") missing.push("tokenizer.json");
  return missing.length
    ? `model.path: ${model.path} is not a model folder in the Hugging Face layout (no ${missing.join(", ")})`
    : null;
}

/** Every problem with the paths `recipe` will read, each naming its field; empty when all are there. */
export async function recipePathProblems(recipe: Recipe): Promise<string[]> {
  const checks: Array<Promise<string | null>> = [modelProblem(recipe.model)];
  const { sft, grpo } = recipe;
  if (sft && "path" in sft.data) checks.push(fileProblem("sft.data.path", sft.data.path));
  if (grpo) {
    const train = recipe.data.train;
    if ("path" in train) checks.push(fileProblem("data.train.path", train.path));
    const heldout = recipe.eval?.data;
    if (heldout && "path" in heldout) checks.push(fileProblem("eval.data.path", heldout.path));
    if (typeof grpo.rewards === "object")
      grpo.rewards.rewards.forEach((r, i) => {
        if (r.module) checks.push(fileProblem(`grpo.rewards.rewards.${i}.module`, r.module));
      });
  }
  return (await Promise.all(checks)).filter((p): p is string => p !== null);
}

/** Throws one error listing every path problem of `recipe` (see recipePathProblems). */
export async function checkRecipePaths(recipe: Recipe): Promise<void> {
  const problems = await recipePathProblems(recipe);
  if (problems.length) throw new Error(problems.join("; "));
}
