/**
 * The tokenizer of a Hugging Face model directory: tokenizer.json (the
 * vocabulary, merges, pre-tokenizer, decoder) read by @huggingface/tokenizers,
 * and tokenizer_config.json (special tokens, chat templates).
 *
 * Ids travel as Int32Array (what the engine's token inputs take). Special
 * tokens follow transformers: bos/eos/pad/unk are named by tokenizer_config.json;
 * "skip special tokens" skips the added tokens marked special in tokenizer.json
 * (for Qwen3 that keeps <think>, which is an added but not a special token).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { z } from "zod";
import { IncrementalDecoder } from "./tokenizer-stream.ts";

export { IncrementalDecoder } from "./tokenizer-stream.ts";

/** Options of Tokenizer.fromDir / fromFiles. */
export const TokenizerLoadOptions = z.object({
  /**
   * More end-of-sequence ids, added to the one of tokenizer_config.json (and, in fromDir, those of
   * generation_config.json). Instruct models often end turns with one token and documents with another.
   */
  eosTokenIds: z.array(z.number().int().nonnegative()).default([]),
});
export type TokenizerLoadOptions = z.input<typeof TokenizerLoadOptions>;

export interface EncodeOptions {
  /** Add the tokens of the tokenizer's post-processor (e.g. a BOS). Default true, as transformers. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out the added tokens marked special (<|im_end|>, BOS, ...). Default false. */
  skipSpecialTokens?: boolean;
}

/** A chat template found with the tokenizer, and where it came from (for error messages). */
export interface ChatTemplateSource {
  text: string;
  source: string;
}

/** Where a tokenizer was read from. */
export interface TokenizerSources {
  tokenizerJson: string;
  tokenizerConfig?: string;
  chatTemplateFile?: string;
  generationConfig?: string;
}

/** The special-token names of tokenizer_config.json that transformers hands to chat templates. */
const SPECIAL_TOKEN_KEYS = [
  "bos_token",
  "eos_token",
  "unk_token",
  "sep_token",
  "pad_token",
  "cls_token",
  "mask_token",
] as const;

export class Tokenizer {
  /** Number of ids, added tokens included (max id + 1); the model's embedding may be larger. */
  readonly vocabSize: number;
  readonly bosToken: string | undefined;
  readonly bosId: number | undefined;
  /** The end-of-sequence token of tokenizer_config.json (else that of the first other eos id). */
  readonly eosToken: string | undefined;
  /** The first of eosIds. */
  readonly eosId: number | undefined;
  /** Every id that ends a generation (config eos first, then generation_config's and the options'). */
  readonly eosIds: readonly number[];
  /** The pad token: tokenizer_config.json's, else the eos token. */
  readonly padToken: string | undefined;
  readonly padId: number | undefined;
  readonly unkId: number | undefined;
  /** Ids of "<think>" and "</think>" when each is one token. */
  readonly thinkStartId: number | undefined;
  readonly thinkEndId: number | undefined;
  /** Ids of the added tokens marked special. */
  readonly specialIds: ReadonlySet<number>;
  /** Named chat templates ("default" for a single one); empty when the files have none. */
  readonly chatTemplates: Readonly<Record<string, ChatTemplateSource>>;
  /** tokenizer_config.json as read (token fields as written there), or {} without one. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly sources: TokenizerSources;

  private readonly hf: HfTokenizer;
  private readonly vocab: readonly (string | undefined)[];
  private readonly eosSet: ReadonlySet<number>;

  private constructor(
    tokenizerJson: unknown,
    config: Record<string, unknown>,
    sources: TokenizerSources,
    extraEos: readonly number[],
    chatTemplateFile: ChatTemplateSource | undefined,
  ) {
    const where = sources.tokenizerJson;
    if (typeof tokenizerJson !== "object" || tokenizerJson === null || !("model" in tokenizerJson))
      throw new Error(`malformed tokenizer.json (${where}): no "model" object`);
    try {
      this.hf = new HfTokenizer(tokenizerJson, libraryConfig(config));
    } catch (err) {
      throw new Error(`malformed tokenizer.json (${where}): ${(err as Error).message}`);
    }
    this.config = config;
    this.sources = sources;
    const vocab = this.hf.model?.vocab;
    if (!vocab || vocab.length === 0)
      throw new Error(`malformed tokenizer.json (${where}): empty vocabulary`);
    this.vocab = vocab;
    this.vocabSize = vocab.length;
    this.specialIds = new Set(
      [...this.hf.get_added_tokens_decoder().values()].filter((t) => t.special).map((t) => t.id),
    );

    const configName = sources.tokenizerConfig ?? "tokenizer_config.json";
    const lookup = (key: string): [string | undefined, number | undefined] => {
      const token = tokenContent(config[key]);
      if (token === undefined) return [undefined, undefined];
      const id = this.tokenToId(token);
      if (id === undefined)
        throw new Error(`${key} ${JSON.stringify(token)} of ${configName} is not a token of ${where}`);
      return [token, id];
    };
    [this.bosToken, this.bosId] = lookup("bos_token");
    [this.eosToken, this.eosId] = lookup("eos_token");
    const [padToken, padId] = lookup("pad_token");
    this.padToken = padToken ?? this.eosToken;
    this.padId = padId ?? this.eosId;
    this.unkId = lookup("unk_token")[1];

    const eos = this.eosId === undefined ? [] : [this.eosId];
    for (const id of extraEos) {
      this.checkId(id);
      if (!eos.includes(id)) eos.push(id);
    }
    this.eosIds = eos;
    this.eosSet = new Set(eos);
    if (this.eosId === undefined && eos.length > 0) {
      this.eosId = eos[0];
      this.eosToken = this.idToToken(eos[0]);
    }
    if (this.padId === undefined && this.eosId !== undefined) {
      this.padId = this.eosId;
      this.padToken = this.idToToken(this.eosId);
    }

    this.thinkStartId = this.tokenToId("<think>");
    this.thinkEndId = this.tokenToId("</think>");
    this.chatTemplates = chatTemplatesOf(config, configName, chatTemplateFile);
  }

  /**
   * Reads a model directory: tokenizer.json (required), tokenizer_config.json,
   * chat_template.jinja (which, as in transformers, replaces the config's default
   * template) and the eos ids of generation_config.json, each when present.
   */
  static fromDir(dir: string, options: TokenizerLoadOptions = {}): Tokenizer {
    const { eosTokenIds } = TokenizerLoadOptions.parse(options);
    const configPath = join(dir, "tokenizer_config.json");
    const templatePath = join(dir, "chat_template.jinja");
    const generationPath = join(dir, "generation_config.json");
    const sources: TokenizerSources = { tokenizerJson: join(dir, "tokenizer.json") };
    if (existsSync(configPath)) sources.tokenizerConfig = configPath;
    let chatTemplateFile: ChatTemplateSource | undefined;
    if (existsSync(templatePath)) {
      sources.chatTemplateFile = templatePath;
      chatTemplateFile = { text: readFileSync(templatePath, "utf8"), source: templatePath };
    }
    const extraEos: number[] = [];
    if (existsSync(generationPath)) {
      sources.generationConfig = generationPath;
      extraEos.push(...generationEosIds(readJson(generationPath, "generation_config.json"), generationPath));
    }
    extraEos.push(...eosTokenIds);
    const json = readJson(sources.tokenizerJson, "tokenizer.json");
    const config = sources.tokenizerConfig ? readConfig(sources.tokenizerConfig) : {};
    return new Tokenizer(json, config, sources, extraEos, chatTemplateFile);
  }

  /** Reads a tokenizer.json and, optionally, its tokenizer_config.json. */
  static fromFiles(
    tokenizerJsonPath: string,
    tokenizerConfigPath?: string,
    options: TokenizerLoadOptions = {},
  ): Tokenizer {
    const { eosTokenIds } = TokenizerLoadOptions.parse(options);
    const json = readJson(tokenizerJsonPath, "tokenizer.json");
    const config = tokenizerConfigPath ? readConfig(tokenizerConfigPath) : {};
    const sources = { tokenizerJson: tokenizerJsonPath, tokenizerConfig: tokenizerConfigPath };
    return new Tokenizer(json, config, sources, eosTokenIds, undefined);
  }

  /** Builds a tokenizer from already-parsed files; `source` names them in errors. */
  static fromObjects(
    tokenizerJson: unknown,
    tokenizerConfig: Record<string, unknown> = {},
    options: TokenizerLoadOptions & { source?: string } = {},
  ): Tokenizer {
    const { eosTokenIds } = TokenizerLoadOptions.parse({ eosTokenIds: options.eosTokenIds });
    const source = options.source ?? "tokenizer.json (in memory)";
    return new Tokenizer(tokenizerJson, tokenizerConfig, { tokenizerJson: source }, eosTokenIds, undefined);
  }

  /** Text to ids. */
  encode(text: string, options: EncodeOptions = {}): Int32Array {
    const { ids } = this.hf.encode(text, { add_special_tokens: options.addSpecialTokens ?? true });
    return Int32Array.from(ids);
  }

  /** Encodes each text on its own (no padding: the caller decides how to lay out a batch). */
  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): Int32Array[] {
    return texts.map((t) => this.encode(t, options));
  }

  /** Ids to text; an id outside the vocabulary is an error. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    if (ids.length === 0) return "";
    const list = Array.from(ids);
    for (const id of list) this.checkId(id);
    return this.hf.decode(list, { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  /** A decoder for streaming generation: push ids one at a time, get text only once it is complete UTF-8. */
  decodeStream(options: DecodeOptions = {}): IncrementalDecoder {
    return new IncrementalDecoder((ids) => this.decode(ids, options));
  }

  /** The id of a token string (as in tokenizer.json: byte-level BPE writes " a" as "Ġa"). */
  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  /** The token string of an id, or undefined outside the vocabulary. */
  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 ? this.vocab[id] : undefined;
  }

  /** Whether the id ends a generation. */
  isEos(id: number): boolean {
    return this.eosSet.has(id);
  }

  /**
   * The special tokens of tokenizer_config.json as strings, keyed as transformers passes them
   * to chat templates (bos_token, eos_token, ..., additional_special_tokens); unset ones are absent.
   */
  specialTokensMap(): Record<string, string | string[]> {
    const map: Record<string, string | string[]> = {};
    for (const key of SPECIAL_TOKEN_KEYS) {
      const token = tokenContent(this.config[key]);
      if (token !== undefined) map[key] = token;
    }
    const extra = this.config.additional_special_tokens;
    if (Array.isArray(extra)) {
      map.additional_special_tokens = extra.map(tokenContent).filter((t): t is string => t !== undefined);
    }
    return map;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.vocab[id] === undefined)
      throw new RangeError(`token id ${id} is not in the vocabulary of ${this.sources.tokenizerJson}`);
  }
}

/** A special-token field: a string, an AddedToken object ({content}), or null. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { content?: unknown }).content === "string"
  )
    return (value as { content: string }).content;
  return undefined;
}

/**
 * The config as the library reads it: token fields as plain strings, and no clean-up of spaces
 * before punctuation unless the config asks for it (the library's default is to clean up, which
 * would make decode(encode(" .")) lose the space).
 */
function libraryConfig(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { clean_up_tokenization_spaces: false, ...config };
  for (const key of SPECIAL_TOKEN_KEYS) {
    const token = tokenContent(config[key]);
    if (token === undefined) delete out[key];
    else out[key] = token;
  }
  if (Array.isArray(config.additional_special_tokens))
    out.additional_special_tokens = config.additional_special_tokens
      .map(tokenContent)
      .filter((t) => t !== undefined);
  return out;
}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      code === "ENOENT"
        ? `${what} not found: ${path}`
        : `cannot read ${what} (${path}): ${(err as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`malformed ${what} (${path}): ${(err as Error).message}`);
  }
}

function readConfig(path: string): Record<string, unknown> {
  const config = readJson(path, "tokenizer_config.json");
  if (typeof config !== "object" || config === null || Array.isArray(config))
    throw new Error(`malformed tokenizer_config.json (${path}): not a JSON object`);
  return config as Record<string, unknown>;
}

function generationEosIds(config: unknown, path: string): number[] {
  const value = (config as { eos_token_id?: unknown } | null)?.eos_token_id;
  if (value === undefined || value === null) return [];
  const ids = Array.isArray(value) ? value : [value];
  if (!ids.every((id) => Number.isInteger(id) && id >= 0))
    throw new Error(`malformed generation_config.json (${path}): eos_token_id ${JSON.stringify(value)}`);
  return ids as number[];
}

/**
 * The chat_template field of tokenizer_config.json: one string (named "default"), or a list of
 * {name, template}; a chat_template.jinja file replaces "default".
 */
function chatTemplatesOf(
  config: Record<string, unknown>,
  configName: string,
  file: ChatTemplateSource | undefined,
): Record<string, ChatTemplateSource> {
  const templates: Record<string, ChatTemplateSource> = {};
  const field = config.chat_template;
  if (typeof field === "string") {
    templates.default = { text: field, source: `${configName} (chat_template)` };
  } else if (Array.isArray(field)) {
    for (const entry of field) {
      const { name, template } = (entry ?? {}) as { name?: unknown; template?: unknown };
      if (typeof name !== "string" || typeof template !== "string")
        throw new Error(
          `malformed chat_template list in ${configName}: each entry needs a name and a template`,
        );
      templates[name] = { text: template, source: `${configName} (chat_template "${name}")` };
    }
  } else if (field !== undefined && field !== null) {
    throw new Error(
      `malformed chat_template in ${configName}: expected a string or a list of named templates`,
    );
  }
  if (file) templates.default = file;
  return templates;
}
