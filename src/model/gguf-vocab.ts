/**
 * The tokenizer of a model folder as GGUF metadata for llama.cpp
 * (`tokenizer.ggml.*`, `tokenizer.chat_template`), in llama.cpp's "gpt2"
 * model (byte-level BPE). Two kinds of tokenizer.json are exported:
 *
 * - byte-level BPE (Qwen, DeepSeek-R1-Distill-Qwen, Llama 3): the vocabulary
 *   strings and merges are stored as tokenizer.json holds them, and
 *   `tokenizer.ggml.pre` names the pre-tokenizer split llama.cpp applies
 *   before BPE (see `detectPreTokenizer`);
 * - character-level BPE (no merges, no byte-level mapping: the demo's
 *   tokenizer, tokenizer-builder.ts): each character's token is written as
 *   the byte-level string of its UTF-8 bytes (" " as "Ġ", "\n" as "Ċ"), with
 *   merges that join the bytes of a multi-byte character, so llama.cpp's
 *   byte-level BPE gives every character of the alphabet the same id. A
 *   character outside the alphabet is where the two differ: ours encodes it as
 *   the unk token, llama.cpp drops it.
 *
 * Any other tokenizer (a BPE with merges but no byte-level mapping, such as
 * SentencePiece-style ones; WordPiece; Unigram) is refused with the reason:
 * llama.cpp would read it as byte-level BPE and silently drop spaces and
 * newlines.
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
  normalizer?: unknown;
  pre_tokenizer?: PreTokenizer | null;
  post_processor?: PostProcessor | null;
  decoder?: PreTokenizer | null;
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

/** Every step of a pre-tokenizer (or decoder), nested sequences flattened. */
function flatten(p: PreTokenizer | null | undefined): PreTokenizer[] {
  return p ? [p, ...(p.pretokenizers ?? []).flatMap(flatten)] : [];
}

/**
 * How llama.cpp can read a BPE tokenizer.json: as it is ("byte-level"), or with its characters
 * rewritten as byte-level strings ("character": no merges, no byte-level step, every vocabulary
 * entry one character, no normalizer). Anything else is refused with the reason.
 */
function bpeKind(json: TokenizerJson, path: string): "byte-level" | "character" {
  const steps = [...flatten(json.pre_tokenizer), ...flatten(json.decoder)];
  if (steps.some((p) => p.type === "ByteLevel")) return "byte-level";
  const added = new Set((json.added_tokens ?? []).map((t) => t.content));
  const plain = Object.keys(json.model?.vocab ?? {}).filter((t) => !added.has(t));
  const oneChar = plain.every((t) => [...t].length === 1);
  if ((json.model?.merges ?? []).length === 0 && oneChar && !json.normalizer) return "character";
  throw new Error(
    `gguf export: ${path}: a BPE tokenizer that is neither byte-level (no ByteLevel step) nor one token per ` +
      "character: llama.cpp would read it as byte-level BPE and drop spaces and newlines, so it is not exported",
  );
}

/** GPT-2's byte-to-character table of byte-level BPE: printable bytes stay, the others map to U+0100 on. */
const BYTE_TO_CHAR: readonly string[] = (() => {
  const table: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    table[b] = String.fromCodePoint(printable ? b : next++);
  }
  return table;
})();

/** A text as byte-level BPE writes it: each UTF-8 byte as its character (" " -> "Ġ", "\n" -> "Ċ"). */
export function byteLevelPieces(text: string): string[] {
  return [...Buffer.from(text, "utf8")].map((b) => BYTE_TO_CHAR[b]);
}

/**
 * The vocabulary and merges of a character-level tokenizer in byte-level form: each character as
 * its byte-level string, and for a character of several bytes the merges that join them, left to
 * right ("Ã Ĺ" for "×").
 */
function characterVocabAsByteLevel(vocab: Record<string, number>, added: ReadonlySet<string>) {
  const out: Record<string, number> = {};
  const merges = new Set<string>(); // characters that share leading bytes share merges
  for (const [text, id] of Object.entries(vocab)) {
    if (added.has(text)) continue; // added tokens are matched whole, as they are
    const pieces = byteLevelPieces(text);
    for (let k = 1; k < pieces.length; k++) merges.add(`${pieces.slice(0, k).join("")} ${pieces[k]}`);
    out[pieces.join("")] = id;
  }
  return { vocab: out, merges: [...merges] };
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
  let model = json.model ?? {};
  if (model.type !== "BPE" || !model.vocab)
    throw new Error(`gguf export: ${path}: only BPE tokenizers are supported (model.type is ${model.type})`);
  let pre: string;
  if (bpeKind(json, path) === "character") {
    // No merges cross characters, so any split llama.cpp applies first gives the same ids.
    const added = new Set((json.added_tokens ?? []).map((t) => t.content));
    model = { ...model, ...characterVocabAsByteLevel(model.vocab, added) };
    pre = options.pre ?? "gpt-2";
  } else pre = options.pre ?? detectPreTokenizer(json, path);

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
  for (const [content, id] of Object.entries(model.vocab ?? {})) put(id, content);
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
