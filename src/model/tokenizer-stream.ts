/**
 * Incremental decoding for streaming generation. One token may hold part of a
 * character (byte-level BPE splits emoji and rare CJK characters into byte
 * pieces), and some decoders change a token's text with its neighbours (a
 * SentencePiece "▁" at the start). So the decoder keeps a small window of
 * recent ids and emits the text that window adds over its already-emitted
 * prefix, and only once that text does not end in U+FFFD (the mark of an
 * unfinished UTF-8 sequence). This is the scheme of the Rust tokenizers'
 * DecodeStream and of text-generation-inference.
 */

/** Decodes a list of ids to text (the tokenizer's decode with fixed options). */
export type DecodeFn = (ids: readonly number[]) => string;

const REPLACEMENT = "\uFFFD";

export class IncrementalDecoder {
  /** Ids from the start of the context window; those before `read` have been emitted. */
  private window: number[] = [];
  private read = 0;

  constructor(private readonly decodeIds: DecodeFn) {}

  /**
   * Adds one id; returns the text it completes: "" while a character is unfinished,
   * possibly several characters (or several tokens' worth) once it is.
   */
  push(id: number): string {
    this.window.push(id);
    const prefix = this.read > 0 ? this.decodeIds(this.window.slice(0, this.read)) : "";
    const text = this.decodeIds(this.window);
    if (text.length <= prefix.length || text.endsWith(REPLACEMENT)) return "";
    this.window = this.window.slice(this.read);
    this.read = this.window.length;
    return text.slice(prefix.length);
  }

  /** Adds several ids; returns the text they complete. */
  pushAll(ids: ArrayLike<number>): string {
    let out = "";
    for (let i = 0; i < ids.length; i++) out += this.push(ids[i]);
    return out;
  }

  /** Ids pushed but not yet emitted as text (an unfinished character). */
  get pending(): number {
    return this.window.length - this.read;
  }

  /**
   * Ends the stream: returns what is still held back, decoded as it is (an unfinished
   * character becomes U+FFFD, as a full decode would give), and starts afresh.
   */
  flush(): string {
    if (this.pending === 0) {
      this.reset();
      return "";
    }
    const prefix = this.read > 0 ? this.decodeIds(this.window.slice(0, this.read)) : "";
    const text = this.decodeIds(this.window);
    this.reset();
    return text.slice(prefix.length);
  }

  /** Forgets everything pushed. */
  reset(): void {
    this.window = [];
    this.read = 0;
  }
}
