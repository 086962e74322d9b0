/**
 * Answers written in other languages and scripts. Reasoning models drift into
 * Chinese (DeepSeek-R1 distills do), and users write French or German; a
 * language slip must not turn a right answer into a wrong one. Three things:
 *   - fullwidth forms, CJK punctuation and Arabic-Indic digits folded to ASCII
 *     ("３/４。" -> "3/4.", "٣" -> "3"),
 *   - the word "answer" in other languages, as an extraction anchor,
 *   - the scripts written without spaces, after which a plain number may start
 *     ("答案是3/4": Math-Verify's rule wants a space or "=" before a number).
 */

/** Fullwidth ASCII (U+FF01..FF5E) except ＄ ＼ ～, which would read as LaTeX; and CJK punctuation. */
const WIDE_FORMS = /[\uff01-\uff03\uff05-\uff3b\uff3d-\uff5d\u3000\u3001\u3002]/g;
const CJK_PUNCTUATION: Record<string, string> = { "\u3000": " ", "\u3001": ",", "\u3002": "." };
/** Arabic-Indic (U+0660..0669) and Eastern Arabic-Indic (U+06F0..06F9) digits. */
const ARABIC_DIGITS = /[\u0660-\u0669\u06f0-\u06f9]/g;

/**
 * `text` in NFC (when it has combining accents) with fullwidth ASCII, the ideographic space, comma and full stop,
 * and Arabic-Indic digits folded to ASCII. Pure ASCII text is returned as is.
 */
export function foldWideForms(text: string): string {
  if (!/[^ -~\s]/.test(text)) return text;
  // each pass only where needed: long outputs in Chinese are common
  let out = /[\u0300-\u036f]/.test(text) ? text.normalize("NFC") : text;
  WIDE_FORMS.lastIndex = 0;
  if (WIDE_FORMS.test(out))
    out = out.replace(WIDE_FORMS, (c) => CJK_PUNCTUATION[c] ?? String.fromCharCode(c.charCodeAt(0) - 0xfee0));
  ARABIC_DIGITS.lastIndex = 0;
  if (ARABIC_DIGITS.test(out))
    out = out.replace(ARABIC_DIGITS, (c) => String((c.charCodeAt(0) - 0x0660) % 0x90));
  return out;
}

/**
 * "answer" in the languages models answer in (English, Chinese, Japanese, Korean,
 * French, German, Russian, Spanish, Portuguese, Italian), as a regex source for
 * case-insensitive matching. Each works like Math-Verify's English anchor:
 * followed by ":" it has the priority of "answer:", otherwise that of "answer".
 */
export const ANSWER_WORDS = "answer|答案|答え|정답|réponse|reponse|antwort|ответ|respuesta|resposta|risposta";

/** The anchors of extraction: "answer" with an optional colon (group 1) and a test for the word. */
export interface AnswerAnchor {
  all: RegExp;
  any: RegExp;
}

const ENGLISH: AnswerAnchor = { all: /answer(:?)/gi, any: /answer/i };
const EVERY_LANGUAGE: AnswerAnchor = {
  all: new RegExp(`(?:${ANSWER_WORDS})(:?)`, "gi"),
  any: new RegExp(ANSWER_WORDS, "i"),
};

/** Math-Verify's English anchor, or with `languages` the anchor in every language above. */
export function answerAnchor(languages: boolean): AnswerAnchor {
  return languages ? EVERY_LANGUAGE : ENGLISH;
}

/** Scripts written without spaces between words: Thai, CJK punctuation, kana, Han, Hangul. */
export const UNSPACED_SCRIPT =
  "\\u0e00-\\u0e7f\\u3000-\\u30ff\\u3400-\\u4dbf\\u4e00-\\u9fff\\uac00-\\ud7af\\uf900-\\ufaff";
