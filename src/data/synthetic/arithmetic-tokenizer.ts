/**
 * The demo's default tokenizer for the arithmetic task: one token per character
 * of the problems, traces and chat turns, plus the chat and reasoning special
 * tokens (model/tokenizer-builder.ts), a few dozen ids in all.
 */
import {
  type CharTokenizerOptions,
  DEFAULT_SPECIAL_TOKENS,
  THINKING_CHAT_TEMPLATE,
  type WrittenCharTokenizer,
  writeCharTokenizer,
} from "../../model/tokenizer-builder.ts";
import { ARITHMETIC_CHARACTERS } from "./arithmetic.ts";

/** The role names the chat template writes out in full ("<|im_start|>user\n..."). */
const CHAT_ROLES = "system user assistant";

/**
 * The character tokenizer options of the arithmetic task: its characters, those of the chat roles,
 * and those of `extraText` (e.g. a system prompt), in code point order; DEFAULT_SPECIAL_TOKENS
 * (<unk>, <|endoftext|>, <|im_start|>, <|im_end|>, <think>, </think>); eos <|im_end|>, pad
 * <|endoftext|>; THINKING_CHAT_TEMPLATE.
 */
export function arithmeticTokenizerOptions(extraText = ""): CharTokenizerOptions {
  const chars = [...new Set(ARITHMETIC_CHARACTERS + CHAT_ROLES + extraText)].sort(
    (a, b) => (a.codePointAt(0) ?? 0) - (b.codePointAt(0) ?? 0),
  );
  return {
    characters: chars,
    specialTokens: [...DEFAULT_SPECIAL_TOKENS],
    eosToken: "<|im_end|>",
    padToken: "<|endoftext|>",
    chatTemplate: THINKING_CHAT_TEMPLATE,
  };
}

/** Writes the arithmetic task's tokenizer.json and tokenizer_config.json into `dir` (atomically). */
export function writeArithmeticTokenizer(dir: string, extraText = ""): Promise<WrittenCharTokenizer> {
  return writeCharTokenizer(dir, arithmeticTokenizerOptions(extraText));
}
