/**
 * The text of a completion as its tokens arrive, for streaming: each token is
 * decoded incrementally (IncrementalDecoder: whole characters only), the text
 * is cut before the first stop string, and text that could still turn out to
 * be the start of a stop string is held back until the next tokens decide.
 * So the pieces handed out, concatenated, are exactly the final text.
 *
 * This is the one stop-string implementation: each token costs a decode of
 * the few ids since the last whole character and a search of the last
 * (longest stop) characters, never a decode of the whole completion.
 */
import type { Tokenizer } from "../model/tokenizer.ts";
import { type DecodeFn, IncrementalDecoder } from "../model/tokenizer-stream.ts";

export class StopText {
  /** Decoded text so far (not yet cut at a stop string). */
  #text = "";
  /** Where the first stop string starts, once one has appeared. */
  #cut: number | null = null;
  /** Characters already handed out by take(). */
  #taken = 0;
  readonly #stops: readonly string[];
  readonly #longestStop: number;

  /** `stops`: the stop strings (empty ones are ignored). */
  constructor(
    private readonly decoder: IncrementalDecoder,
    stops: readonly string[],
  ) {
    this.#stops = stops.filter((s) => s.length > 0);
    this.#longestStop = Math.max(0, ...this.#stops.map((s) => s.length));
  }

  /**
   * The completion text of ids decoded by `decodeIds` (any engine's detokenizer, special tokens left
   * out), cut at `stops`: the one stop-string path of every engine, whatever decodes its tokens.
   */
  static decoding(decodeIds: DecodeFn, stops: readonly string[]): StopText {
    return new StopText(new IncrementalDecoder(decodeIds), stops);
  }

  /**
   * The completion text of a tokenizer's ids (special tokens left out), cut at `stops`. Ids the
   * tokenizer does not know decode as nothing: a model's embedding is often padded past the
   * tokenizer's vocabulary, and sampling may pick one of those rows.
   */
  static forTokenizer(tokenizer: Tokenizer, stops: readonly string[]): StopText {
    return StopText.decoding(
      (ids) =>
        tokenizer.decode(
          ids.filter((id) => tokenizer.idToToken(id) !== undefined),
          { skipSpecialTokens: true },
        ),
      stops,
    );
  }

  /** Adds a token; returns true when the text now holds a stop string (the completion should end). */
  push(id: number): boolean {
    if (this.#cut !== null) return true;
    const before = this.#text.length;
    this.#text += this.decoder.push(id);
    this.#findStop(before);
    return this.#cut !== null;
  }

  /** Ends the text: decodes what the decoder still holds (an unfinished character). */
  finish(): void {
    if (this.#cut !== null) return;
    const before = this.#text.length;
    this.#text += this.decoder.flush();
    this.#findStop(before);
  }

  /** Whether a stop string ended the text. */
  get stopped(): boolean {
    return this.#cut !== null;
  }

  /** The text, cut before the first stop string. */
  get text(): string {
    return this.#cut === null ? this.#text : this.#text.slice(0, this.#cut);
  }

  /**
   * The text not handed out yet that no later token can change: everything up to a stop string once
   * one is found (or once `final`), else all but the last (longest stop - 1) characters.
   */
  take(final = false): string {
    let end = this.text.length;
    if (this.#cut === null && !final && this.#longestStop > 1) {
      end = Math.max(this.#taken, end - (this.#longestStop - 1));
      // never split a surrogate pair between two pieces
      if (end > this.#taken && isHighSurrogate(this.#text.charCodeAt(end - 1))) end--;
    }
    const piece = this.#text.slice(this.#taken, end);
    this.#taken = end;
    return piece;
  }

  /** Looks for the earliest stop string that overlaps the text added after `before`. */
  #findStop(before: number): void {
    const from = Math.max(0, before - this.#longestStop + 1);
    for (const stop of this.#stops) {
      const at = this.#text.indexOf(stop, from);
      if (at >= 0 && (this.#cut === null || at < this.#cut)) this.#cut = at;
    }
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
