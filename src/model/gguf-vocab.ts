/**
 * The tokenizer of a model folder as GGUF metadata for llama.cpp
 * (`tokenizer.ggml.*`, `tokenizer.chat_template`).
 *
 * Only byte-level BPE tokenizers are supported (llama.cpp's "gpt2" model:
 * Qwen, DeepSeek-R1-Distill-Qwen, Llama 3): the vocabulary strings and merges
 * are stored as tokenizer.json holds them, and `tokenizer.ggml.pre` names the
 * pre-tokenizer split llama.cpp applies before BPE (see `detectPreTokenizer`).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type GgufValue, gguf } from "./gguf-writer.ts";
import type { ModelConfig } from "./hf-config.ts";
import { Tokenizer } from "./tokenizer.ts";

/** llama.cpp's token types (tokenizer.ggml.token_type). */
export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: Array<string | [string, string]> };
  added_tokens?: AddedToken[];
  pre_tokenizer?: PreTokenizer | null;
  post_processor?: PostProcessor | null;
}

interface PreTokenizer {
  type?: string;
  pretokenizers?: PreTokenizer[];
  pattern?: { Regex?: string; String?: string };
  use_regex?: boolean;
}

interface PostProcessor {
  type?: string;
  processors?: PostProcessor[];
  single?: Array<{ SpecialToken?: { id?: string } }>;
}

/**
 * The llama.cpp pre-tokenizer name for a tokenizer.json's pre_tokenizer, read
 * from its split regex: Qwen2's (digits one at a time) -> "qwen2", Llama 3's
 * (digits in groups of up to three) -> "llama-bpe", a bare GPT-2 byte-level
 * split -> "gpt-2". Anything else is an error asking for an explicit name.
 */
export function detectPreTokenizer(json: TokenizerJson, where: string): string {
  const flat: PreTokenizer[] = [];
  const walk = (p: PreTokenizer | null | undefined) => {
    if (!p) return;
    flat.push(p);
    for (const q of p.pretokenizers ?? []) walk(q);
  };
  walk(json.pre_tokenizer);
  const byteLevel = flat.find((p) => p.type === "ByteLevel");
  const splits = flat
    .filter((p) => p.type === "Split")
    .map((p) => p.pattern?.Regex ?? p.pattern?.String ?? "");
  const fail = (why: string): never => {
    throw new Error(
      `${where}: cannot tell llama.cpp's pre-tokenizer (${why}); pass it explicitly (e.g. --pre qwen2)`,
    );
  };
  if (!byteLevel) return fail("no ByteLevel pre-tokenizer");
  if (splits.length === 0) return byteLevel.use_regex === false ? fail("no split regex") : "gpt-2";
  if (splits.length > 1) return fail(`${splits.length} split regexes`);
  const re = splits[0];
  const letters = re.includes("[^\\r\\n\\p{L}\\p{N}]?\\p{L}+");
  if (letters && re.includes("|\\p{N}{1,3}|")) return "llama-bpe";
  if (letters && re.includes("|\\p{N}|")) return "qwen2";
  return fail(`unknown split regex ${JSON.stringify(re)}`);
}

/** Options of `tokenizerMetadata`. */
export interface VocabOptions {
  /** tokenizer.ggml.pre; detected from tokenizer.json when absent. */
  pre?: string;
}

/** A token llama.cpp should treat as control when added: marked special, or of the form <|...|>. */
function looksSpecial(content: string): boolean {
  return content.startsWith("<|") && content.endsWith("|>");
}

/**
 * The tokenizer metadata of the model folder `dir` for a model of `config`:
 * exactly `config.vocabSize` tokens (ids the tokenizer lacks become unused
 * "[PAD<id>]" entries), their types, merges, special token ids (from
 * tokenizer_config.json, else config.json), add_bos/add_eos and chat templates.
 */
export async function tokenizerMetadata(
  dir: string,
  config: ModelConfig,
  options: VocabOptions = {},
): Promise<Record<string, GgufValue>> {
  const path = join(dir, "tokenizer.json");
  let json: TokenizerJson;
  try {
    json = JSON.parse(await readFile(path, "utf8")) as TokenizerJson;
  } catch (e) {
    throw new Error(`gguf export: cannot read ${path}: ${(e as Error).message}`);
  }
  const model = json.model ?? {};
  if (model.type !== "BPE" || !model.vocab)
    throw new Error(`gguf export: ${path}: only BPE tokenizers are supported (model.type is ${model.type})`);
  const pre = options.pre ?? detectPreTokenizer(json, path);

  const V = config.vocabSize;
  const tokens: (string | undefined)[] = new Array(V);
  const types = new Int32Array(V).fill(TOKEN_TYPE.normal);
  const put = (id: number, content: string) => {
    if (!(Number.isInteger(id) && id >= 0 && id < V))
      throw new Error(
        `gguf export: ${path}: token ${JSON.stringify(content)} has id ${id}, outside the model's ${V}`,
      );
    tokens[id] = content;
  };
  for (const [content, id] of Object.entries(model.vocab)) put(id, content);
  for (const t of json.added_tokens ?? []) {
    put(t.id, t.content);
    types[t.id] = t.special || looksSpecial(t.content) ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined;
  }
  for (let id = 0; id < V; id++) {
    if (tokens[id] === undefined) {
      tokens[id] = `[PAD${id}]`;
      types[id] = TOKEN_TYPE.unused;
    }
  }
  // Merges as "left right"; a space inside a part (possible in the list form) is written as U+0120.
  const merges = (model.merges ?? []).map((m) =>
    typeof m === "string" ? m : m.map((part) => part.replaceAll(" ", "\u0120")).join(" "),
  );

  const tok = Tokenizer.fromDir(dir);
  const meta: Record<string, GgufValue> = {
    "tokenizer.ggml.model": gguf.string("gpt2"),
    "tokenizer.ggml.pre": gguf.string(pre),
    "tokenizer.ggml.tokens": gguf.array("string", tokens as string[]),
    "tokenizer.ggml.token_type": gguf.array("i32", types),
    "tokenizer.ggml.merges": gguf.array("string", merges),
  };
  const bos = tok.bosId ?? config.bosTokenId ?? undefined;
  const eos = tok.eosId ?? config.eosTokenIds[0];
  const pad = tok.config.pad_token != null ? tok.padId : undefined;
  const ids: Array<[string, number | undefined]> = [
    ["bos_token_id", bos],
    ["eos_token_id", eos],
    ["unknown_token_id", tok.unkId],
    ["padding_token_id", pad],
  ];
  for (const [key, id] of ids) if (id !== undefined && id < V) meta[`tokenizer.ggml.${key}`] = gguf.u32(id);
  meta["tokenizer.ggml.add_bos_token"] = gguf.bool(addsBos(json, tok));
  if (typeof tok.config.add_eos_token === "boolean")
    meta["tokenizer.ggml.add_eos_token"] = gguf.bool(tok.config.add_eos_token);
  for (const [name, t] of Object.entries(tok.chatTemplates))
    meta[name === "default" ? "tokenizer.chat_template" : `tokenizer.chat_template.${name}`] = gguf.string(
      t.text,
    );
  return meta;
}

/** Whether encoding adds a BOS: tokenizer_config.json's add_bos_token, else a post-processor that starts with the BOS. */
function addsBos(json: TokenizerJson, tok: Tokenizer): boolean {
  if (typeof tok.config.add_bos_token === "boolean") return tok.config.add_bos_token;
  if (tok.bosToken === undefined) return false;
  const processors = json.post_processor?.processors ?? (json.post_processor ? [json.post_processor] : []);
  return processors.some(
    (p) => p.type === "TemplateProcessing" && p.single?.[0]?.SpecialToken?.id === tok.bosToken,
  );
}
