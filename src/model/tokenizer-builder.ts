/**
 * Character-level tokenizers written as Hugging Face files (tokenizer.json and
 * tokenizer_config.json), for tiny models trained from scratch: one token per
 * character of a given alphabet, plus special tokens (<|im_end|>, <think>, ...)
 * that are matched whole. The same loader as for real models reads them
 * (Tokenizer.fromDir); the fields follow the layout the Rust `tokenizers` library
 * writes (not checked against that library here: it is not installed).
 *
 * Layout of tokenizer.json: a BPE model with no merges over single characters
 * (@huggingface/tokenizers 0.2.0 has no WordLevel model; BPE without merges
 * splits every word into code points and keeps them), no normalizer, no
 * pre-tokenizer, and the Fuse decoder (tokens are concatenated, nothing added).
 * Ids: the special tokens first, in the order given (the unk token at 0 when it
 * is not listed), then the characters in the order given.
 *
 * Unknown characters encode as the unk token (one id per unknown character), which
 * decodes as the unk token's text: they are never dropped silently (a BPE without
 * unk token would drop them). `missingCharacters` finds them ahead of time.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "./safetensors-write.ts";

/** A special token: matched whole in any text and given one id. */
export const SpecialToken = z.union([
  z.string().min(1),
  z.object({
    content: z.string().min(1),
    /**
     * Marked special in tokenizer.json: left out by decode(..., {skipSpecialTokens}). Keep it false for
     * <think> and </think> (as Qwen3 does): rewards read completions decoded without special tokens and
     * look for "</think>" there.
     */
    special: z.boolean().default(true),
  }),
]);
export type SpecialToken = z.input<typeof SpecialToken>;

/**
 * A chat template in the Qwen style (<|im_start|>role\ncontent<|im_end|>\n per message) whose generation
 * prompt opens the assistant turn with "<think>\n", as DeepSeek-R1's does: the completion starts inside
 * the reasoning block. An assistant message is rendered as given, so a conversation ending in an
 * assistant turn whose content starts with "<think>\n" renders as the prompt with generation prompt,
 * followed by the rest of that content, "<|im_end|>" and a newline.
 */
export const THINKING_CHAT_TEMPLATE = [
  "{%- for message in messages -%}",
  "  {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}",
  "{%- endfor -%}",
  "{%- if add_generation_prompt -%}",
  "  {{- '<|im_start|>assistant\\n<think>\\n' -}}",
  "{%- endif -%}",
].join("\n");

/** The special tokens of a chat model that thinks: end of text, turn markers, reasoning tags. */
export const DEFAULT_SPECIAL_TOKENS: readonly z.output<typeof SpecialToken>[] = [
  "<unk>",
  "<|endoftext|>",
  "<|im_start|>",
  "<|im_end|>",
  { content: "<think>", special: false },
  { content: "</think>", special: false },
];

/** Options of buildCharTokenizer / writeCharTokenizer. */
export const CharTokenizerOptions = z.object({
  /**
   * The alphabet: a string (each code point one character) or a list of single code points. Duplicates
   * are dropped (first place kept); none may be a special token.
   */
  characters: z.union([z.string(), z.array(z.string())]),
  /** Special tokens, in id order. Default DEFAULT_SPECIAL_TOKENS. */
  specialTokens: z.array(SpecialToken).default(() => [...DEFAULT_SPECIAL_TOKENS]),
  /** What unknown characters become; added first (id 0) when not among specialTokens. Default "<unk>". */
  unkToken: z.string().min(1).default("<unk>"),
  /** End of sequence (of an assistant turn); must be a special token. Default "<|im_end|>". */
  eosToken: z.string().min(1).default("<|im_end|>"),
  /** Padding; must be a special token. Default "<|endoftext|>". */
  padToken: z.string().min(1).default("<|endoftext|>"),
  /** Beginning of sequence (none is added to encodings either way); null for none. Default null. */
  bosToken: z.string().min(1).nullable().default(null),
  /** Jinja chat template for tokenizer_config.json; null for none. Default THINKING_CHAT_TEMPLATE. */
  chatTemplate: z.string().nullable().default(THINKING_CHAT_TEMPLATE),
  /** model_max_length of tokenizer_config.json. Default 4096. */
  modelMaxLength: z.number().int().positive().default(4096),
});
export type CharTokenizerOptions = z.input<typeof CharTokenizerOptions>;

/** The two files of a character tokenizer, as JSON values. */
export interface CharTokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  /** Number of ids (special tokens + characters). */
  vocabSize: number;
}

/** Where writeCharTokenizer put the files. */
export interface WrittenCharTokenizer extends CharTokenizerFiles {
  tokenizerJsonPath: string;
  tokenizerConfigPath: string;
}

interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** The alphabet as a list of distinct single code points, in first-seen order. */
function alphabetOf(characters: string | readonly string[]): string[] {
  const list = typeof characters === "string" ? Array.from(characters) : characters;
  const seen = new Set<string>();
  for (const c of list) {
    if (Array.from(c).length !== 1)
      throw new Error(`character tokenizer: ${JSON.stringify(c)} is not a single character`);
    seen.add(c);
  }
  if (seen.size === 0) throw new Error("character tokenizer: the alphabet is empty");
  return [...seen];
}

/** Builds the tokenizer.json and tokenizer_config.json of a character-level tokenizer. */
export function buildCharTokenizer(options: CharTokenizerOptions): CharTokenizerFiles {
  const o = CharTokenizerOptions.parse(options);
  const specials = o.specialTokens.map((t) =>
    typeof t === "string" ? { content: t, special: true } : { content: t.content, special: t.special },
  );
  if (!specials.some((t) => t.content === o.unkToken))
    specials.unshift({ content: o.unkToken, special: true });
  const names = new Set<string>();
  for (const t of specials) {
    if (names.has(t.content)) throw new Error(`character tokenizer: special token ${t.content} given twice`);
    names.add(t.content);
  }
  for (const [key, token] of [
    ["eosToken", o.eosToken],
    ["padToken", o.padToken],
    ["bosToken", o.bosToken],
  ] as const) {
    if (token !== null && !names.has(token))
      throw new Error(`character tokenizer: ${key} ${token} is not among the special tokens`);
  }
  const chars = alphabetOf(o.characters);
  for (const c of chars)
    if (names.has(c))
      throw new Error(`character tokenizer: ${JSON.stringify(c)} is both a character and a special token`);

  const vocab: Record<string, number> = {};
  const added: AddedTokenJson[] = specials.map((t, id) => {
    vocab[t.content] = id;
    return {
      id,
      content: t.content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: t.special,
    };
  });
  for (const c of chars) vocab[c] = Object.keys(vocab).length;

  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: "Fuse" },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: o.unkToken,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: [],
    },
  };
  const tokenizerConfig: Record<string, unknown> = {
    tokenizer_class: "PreTrainedTokenizerFast",
    add_bos_token: false,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(added.map(({ id, ...rest }) => [String(id), rest])),
    bos_token: o.bosToken,
    eos_token: o.eosToken,
    pad_token: o.padToken,
    unk_token: o.unkToken,
    clean_up_tokenization_spaces: false,
    model_max_length: o.modelMaxLength,
  };
  if (o.chatTemplate !== null) tokenizerConfig.chat_template = o.chatTemplate;
  return { tokenizerJson, tokenizerConfig, vocabSize: added.length + chars.length };
}

/**
 * Writes tokenizer.json and tokenizer_config.json of a character-level tokenizer into `dir` (created
 * when missing), each atomically (temp file + rename), replacing files of the same names.
 */
export async function writeCharTokenizer(
  dir: string,
  options: CharTokenizerOptions,
): Promise<WrittenCharTokenizer> {
  const files = buildCharTokenizer(options);
  await mkdir(dir, { recursive: true });
  const tokenizerJsonPath = join(dir, "tokenizer.json");
  const tokenizerConfigPath = join(dir, "tokenizer_config.json");
  await writeFileAtomic(tokenizerJsonPath, `${JSON.stringify(files.tokenizerJson, null, 2)}\n`);
  await writeFileAtomic(tokenizerConfigPath, `${JSON.stringify(files.tokenizerConfig, null, 2)}\n`);
  return { ...files, tokenizerJsonPath, tokenizerConfigPath };
}

/**
 * The distinct characters of `texts` outside the alphabet, in first-seen order, after taking out the
 * special tokens (which are matched whole): what would encode as the unk token.
 */
export function missingCharacters(
  texts: Iterable<string>,
  characters: string | readonly string[],
  specialTokens: readonly SpecialToken[] = DEFAULT_SPECIAL_TOKENS,
): string[] {
  const alphabet = new Set(typeof characters === "string" ? Array.from(characters) : characters);
  const specials = specialTokens
    .map((t) => (typeof t === "string" ? t : t.content))
    .sort((a, b) => b.length - a.length);
  const missing = new Set<string>();
  for (const text of texts) {
    let pieces = [text];
    for (const s of specials) pieces = pieces.flatMap((p) => p.split(s));
    for (const piece of pieces) for (const c of piece) if (!alphabet.has(c)) missing.add(c);
  }
  return [...missing];
}
