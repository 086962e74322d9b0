/** Fixtures shared by the tokenizer and chat-template tests. */

/** A four-token BPE tokenizer.json: enough to test loading without the 11 MB one. */
export const TINY_TOKENIZER_JSON = {
  version: "1.0",
  added_tokens: [{ id: 3, content: "</s>", special: true, normalized: false }],
  normalizer: null,
  pre_tokenizer: null,
  post_processor: null,
  decoder: null,
  model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2 }, merges: ["a b"], ignore_merges: false },
};
