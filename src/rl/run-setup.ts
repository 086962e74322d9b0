/**
 * What a recipe's run is made of before any step: the model folder (made from
 * scratch when the recipe says how), the tokenizer and chat template, the
 * prompts of the problems (GRPO's training prompts, by value), the SFT
 * examples, and the task in words.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readJsonl } from "../data/jsonl.ts";
import type { Problem } from "../data/problems.ts";
import { arithmeticProblems, sftTraces } from "../data/synthetic/arithmetic.ts";
import { writeArithmeticTokenizer } from "../data/synthetic/arithmetic-tokenizer.ts";
import { applyChatTemplate, type ChatMessage, type RenderedChat } from "../model/chat-template.ts";
import { OPEN_RS_SYSTEM_PROMPT, OPEN_RS_SYSTEM_PROMPT_NO_LANGUAGE } from "../model/chat-template-builtins.ts";
import { modelConfig } from "../model/hf-config.ts";
import { createRandomModelDir } from "../model/model-dir-init.ts";
import { exists } from "../model/safetensors-write.ts";
import { Tokenizer } from "../model/tokenizer.ts";
import type { SftExample } from "../sft/sft-step.ts";
import type { TrainingPrompt } from "./prompts.ts";
import type { Recipe, SftDataSource } from "./recipe.ts";

/**
 * Makes sure the recipe's model folder exists: when it does not and the recipe has `model.init`, a
 * model is made from scratch there (random weights, the arithmetic tokenizer); otherwise it is an error.
 * Returns whether a model was made.
 */
export async function ensureModelDir(model: Recipe["model"]): Promise<boolean> {
  if (await exists(join(model.path, "config.json"))) return false;
  if (!model.init)
    throw new Error(`model.path ${model.path}: no config.json there (and no model.init to make one)`);
  const scratch = await mkdtemp(join(tmpdir(), "reasonrl-tokenizer-"));
  try {
    await writeArithmeticTokenizer(scratch);
    const tok = Tokenizer.fromDir(scratch);
    const c = model.init.config;
    const config = modelConfig(
      {
        ...c,
        vocabSize: tok.vocabSize,
        eosTokenIds: [...tok.eosIds],
        bosTokenId: null,
      },
      "model.init.config",
    );
    await mkdir(model.path, { recursive: true });
    await createRandomModelDir(model.path, {
      config,
      tokenizerFrom: scratch,
      seed: model.init.seed,
      overwrite: true,
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return true;
}

/** The chat messages of a problem under the recipe's prompt section. */
export function promptMessages(prompt: Recipe["prompt"], problem: string): ChatMessage[] {
  const system =
    prompt.system === "open-rs"
      ? OPEN_RS_SYSTEM_PROMPT
      : prompt.system === "open-rs-no-language"
        ? OPEN_RS_SYSTEM_PROMPT_NO_LANGUAGE
        : prompt.system;
  const user = prompt.user.replaceAll("{problem}", problem);
  return system === null
    ? [{ role: "user", content: user }]
    : [
        { role: "system", content: system },
        { role: "user", content: user },
      ];
}

/** Each problem's prompt, text and token ids: the chat template with its generation prompt. */
export function renderPrompts(
  tok: Tokenizer,
  prompt: Recipe["prompt"],
  problems: readonly Problem[],
): RenderedChat[] {
  return problems.map((p) =>
    applyChatTemplate(tok, promptMessages(prompt, p.problem), { addGenerationPrompt: true }),
  );
}

/**
 * GRPO's training prompts: each problem's rendered prompt (text and ids) with
 * its dataset row. Prompts longer than `maxTokens` keep their end (TRL's
 * max_prompt_length); how many were cut goes to `warn`.
 */
export function trainingPrompts(
  tok: Tokenizer,
  prompt: Recipe["prompt"],
  problems: readonly Problem[],
  maxTokens: number | undefined,
  warn: (message: string) => void,
): TrainingPrompt[] {
  const rendered = renderPrompts(tok, prompt, problems);
  const cut = maxTokens ? rendered.filter((r) => r.ids.length > maxTokens).length : 0;
  if (cut)
    warn(`${cut} of ${rendered.length} prompts are longer than ${maxTokens} tokens: their start is cut`);
  return rendered.map((r, i) => ({
    ids: maxTokens ? r.ids.subarray(Math.max(0, r.ids.length - maxTokens)) : r.ids,
    text: r.text,
    row: problems[i].row,
  }));
}

/** The recipe's training task in words (the synthetic task's shape, or "math problems"). */
export function taskName(recipe: Recipe): string {
  const src = recipe.data.train;
  if (!("synthetic" in src)) return "math problems";
  const t = src.task;
  const operands = t.minOperands === t.maxOperands ? `${t.minOperands}` : `${t.minOperands}-${t.maxOperands}`;
  const digits = t.maxDigits === 1 ? "one-digit" : `up to ${t.maxDigits}-digit`;
  return `arithmetic: ${operands} ${digits} operands, ${t.ops.join(" ")}`;
}

/**
 * The SFT examples of a recipe: the prompt as for GRPO, and the completion (what follows the
 * generation prompt) with the EOS token appended.
 */
export async function sftExamples(
  data: SftDataSource,
  tok: Tokenizer,
  prompt: Recipe["prompt"],
): Promise<SftExample[]> {
  const eos = tok.eosId;
  if (eos === undefined) throw new Error("sft: the tokenizer has no eos_token");
  const example = (problem: string, completion: string, where: string): SftExample => {
    const p = applyChatTemplate(tok, promptMessages(prompt, problem), { addGenerationPrompt: true }).ids;
    const c = tok.encode(completion, { addSpecialTokens: false });
    if (c.length === 0) throw new Error(`${where}: empty completion`);
    return { prompt: p, completion: Int32Array.from([...c, eos]) };
  };
  if ("synthetic" in data) {
    const problems = arithmeticProblems({ ...data.task, split: "train", count: data.count, seed: data.seed });
    const traces = sftTraces(problems, {
      directRate: data.directRate,
      slipRate: data.slipRate,
      seed: data.seed,
    });
    return problems.map((p, i) => example(p.problem, traces[i].completion, `arithmetic:${p.id}`));
  }
  const out: SftExample[] = [];
  for await (const { line, value } of readJsonl(data.path)) {
    const where = `${data.path}:${line}`;
    const problem = value[data.promptField];
    const completion = value[data.completionField];
    if (typeof problem !== "string" || problem === "")
      throw new Error(`${where}: field "${data.promptField}" is missing or not a non-empty string`);
    if (typeof completion !== "string" || completion === "")
      throw new Error(`${where}: field "${data.completionField}" is missing or not a non-empty string`);
    out.push(example(problem, completion, where));
    if (data.limit && out.length >= data.limit) break;
  }
  if (out.length === 0) throw new Error(`${data.path}: no SFT example`);
  return out;
}
