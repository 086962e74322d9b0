/**
 * Rules that find problems whose answer a verifier cannot check, by their text.
 * Each is a plain function of the problem, answer or solution, so it can be
 * tested and documented on its own. They are deliberately conservative: a
 * rule fires on clear evidence and misses unusual phrasings rather than drop
 * good problems.
 *
 * - proof: the problem asks to prove or show something: the words "prove" or
 *   "disprove" (any case), or "show that / show how / demonstrate that / verify
 *   that" as a request (starting a sentence or line, or after "to", "and",
 *   "then", "please"). "proof" alone is not enough (it occurs in "the word
 *   PROOF"), nor "the census will show that ...".
 * - multiple choice: the gold answer is only option letters: "C", "(C)",
 *   "\text{(C)}", "\textbf{(B)}", "A, D, F". A problem listing options with a
 *   value as its answer is kept (its gold is checkable).
 * - listed choices: the problem lists at least three options "(A) ... (B) ... (C)"
 *   (or \textbf{(A)}, \mathrm{(A)}); used only when asked to drop those too.
 * - multi-part: the problem has two or more marked parts, "(a) ... (b)",
 *   "(i) ... (ii)", "(1) ... (2)", "a) ... b)" or "Part 1 ... Part 2", and at
 *   least two of the parts ask something (a "?" or an imperative: find, compute,
 *   determine, calculate, evaluate, prove, show, express, solve, give, sketch,
 *   explain, what, how). Numbered conditions, "(1) It is prime. (2) It is even.",
 *   ask nothing and do not count.
 * - several boxed answers: the solution boxes two or more different answers
 *   (ignoring boxed option letters and repeats of the same answer), so a single
 *   gold, usually the last box, may be incomplete. `differentAnswers` takes the
 *   comparison to use (the verifier, in the `verifiable` step).
 */
import { findBoxes } from "../verify/boxed.ts";

const PROVE = /\b(?:prove|disprove)\b/i;
/** "Show that" as a request: at the start of a sentence or line, or after "to", "and", "then". */
const SHOW_THAT =
  /(?:^|[.!?:;]\s+|\n\s*|\b(?:to|and|then|please)\s+)(?:show|demonstrate|verify)\s+(?:that|how)\b/i;

/** True when the problem asks for a proof. */
export function asksForProof(problem: string): boolean {
  return PROVE.test(problem) || SHOW_THAT.test(problem);
}

const LETTER = String.raw`(?:\\(?:text|textbf|textrm|mathrm|mathbf)\s*\{\s*)?\(?\s*[A-H]\s*\)?(?:\s*\})?`;
const LETTERS_ONLY = new RegExp(`^\\s*${LETTER}(?:\\s*(?:,|and|or)\\s*${LETTER})*\\s*$`);

/** True when the gold answer is nothing but option letters, e.g. "C", "\text{(C)}", "A, D". */
export function isChoiceLetterAnswer(answer: string): boolean {
  const bare = answer.replace(/^\$+|\$+$/g, "").trim();
  // \text{A, D, F}: letters inside one \text{}
  const inner = /^\\text\s*\{([^{}]*)\}$/.exec(bare);
  return LETTERS_ONLY.test(bare) || (inner !== null && LETTERS_ONLY.test(inner[1]));
}

const OPTION = (letter: string) => new RegExp(String.raw`\(\s*${letter}\s*\)`);

/** True when the problem lists options (A), (B) and (C) in that order. */
export function listsChoices(problem: string): boolean {
  let from = 0;
  for (const letter of ["A", "B", "C"]) {
    const m = OPTION(letter).exec(problem.slice(from));
    if (!m) return false;
    from += m.index + m[0].length;
  }
  return true;
}

/** Part markers of each numbering style, in the order the parts come. */
const PART_STYLES: string[][] = [
  ["a", "b", "c", "d", "e"],
  ["i", "ii", "iii", "iv", "v"],
  ["1", "2", "3", "4", "5"],
];

const ASKS =
  /\?|\b(?:find|compute|determine|calculate|evaluate|prove|show|express|solve|give|sketch|explain|what|how)\b/i;

/** The positions of the successive markers of one style: "(a)", "a)" or "Part a" after a boundary. */
function partPositions(text: string, labels: string[]): number[] {
  const positions: number[] = [];
  let from = 0;
  for (const label of labels) {
    const marker = new RegExp(
      String.raw`(?:^|[\s:;.,])(?:\(${label}\)|${label}\)|[Pp]art\s+\(?${label}\)?[.:]?)(?=\s)`,
      "m",
    );
    const m = marker.exec(text.slice(from));
    if (!m) break;
    positions.push(from + m.index);
    from += m.index + m[0].length;
  }
  return positions;
}

/** True when the problem has two or more marked parts that each ask something. */
export function isMultiPart(problem: string): boolean {
  for (const labels of PART_STYLES) {
    const positions = partPositions(problem, labels);
    if (positions.length < 2) continue;
    let asking = 0;
    for (let k = 0; k < positions.length; k++) {
      const part = problem.slice(positions[k], positions[k + 1] ?? problem.length);
      // The last part runs to the end of the text, which often holds the question of the
      // whole problem; count only its own sentence.
      const own = k === positions.length - 1 ? (part.split(/(?<=[.?!])\s/)[0] ?? part) : part;
      if (ASKS.test(own.trim().replace(/^\S+/, ""))) asking++;
    }
    if (asking >= 2) return true;
  }
  return false;
}

/**
 * The distinct boxed answers of a solution, leaving out boxed option letters and
 * answers `same` says are equal to one already kept. Returns them in order.
 */
export function distinctBoxedAnswers(solution: string, same: (a: string, b: string) => boolean): string[] {
  const kept: string[] = [];
  for (const box of findBoxes(solution)) {
    const content = box.content.trim();
    if (content === "" || isChoiceLetterAnswer(content) || /^\\phantom\b/.test(content)) continue;
    // "(D) \frac{5}{3}": an option letter followed by its value counts as the value
    const value = content.replace(/^(?:\\text(?:bf)?\s*\{\s*)?\(\s*[A-E]\s*\)\s*\}?\s*/, "").trim();
    if (!kept.some((k) => k.replace(/\s+/g, "") === value.replace(/\s+/g, "") || same(k, value)))
      kept.push(value);
  }
  return kept;
}
