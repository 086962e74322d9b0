/**
 * Extraction of the final answer from a full model output, in the manner of
 * Math-Verify: candidate matches get priorities (lower first):
 *   0    "final answer is $X$. I hope"
 *   B    \boxed{...} (configurable: 0 for predictions, 50 by default)
 *   50   "final answer ... is X"
 *   100  "answer: ... X"
 *   200  "answer ... X"
 *   250  the whole text as LaTeX (gold strings, `bareLatex`) or as math (`bareMath`)
 *   300  any math environment / plain number (`anchorless`)
 * With `bareMath` (bare-answers.ts) answers without delimiters are also read whole:
 * after "answer" (at 100 / 200) and bracketed groups in prose (at 300).
 * Within a priority the rightmost match is tried first. "first_match" stops at
 * the first match found (parsed or not); "any_match" tries further matches of
 * the same priority until one parses.
 */
import type { Node } from "./ast.ts";
import { bareProducers, hasMathDelimiters, LETTERS_OF_PROSE } from "./bare-answers.ts";
import { findBoxes } from "./boxed.ts";
import { type Candidate, latexPieces, once, type Producer, plainValue } from "./candidates.ts";
import type { ExtractionConfig } from "./config.ts";
import { type AnswerAnchor, answerAnchor, foldWideForms } from "./languages.ts";
import {
  chainFrom,
  chainSpans,
  findMathSpans,
  firstChainFrom,
  type MathSpan,
  spanAt,
} from "./latex-spans.ts";
import { normalizeAnswer } from "./normalize.ts";
import { findPlainNumbers, type PlainMatch } from "./plain-numbers.ts";

/** The result of extraction: parsed values (usually one) and the raw string of the first match. */
export interface Extracted {
  values: Node[];
  /** Normalised text of the first match, compared as a string when parsing failed. */
  fallback: string | null;
  /** Which pattern matched: "boxed", "final-answer", "answer", "bare", "latex", "number" or "none". */
  via: string;
}

const FINAL_IS_BEFORE = /final answer is:?\s*$/i;
const I_HOPE_AFTER = /^\.?\s?I hope/;

/** Three words in a row, or letters of another script (Chinese, Cyrillic, accented Latin) outside \text{}. */
function isProse(s: string): boolean {
  const stripped = s.replace(/\\(?:text|textbf|mbox|mathrm)\s*\{[^{}]*\}/g, " ").replace(/\\[a-zA-Z]+/g, " ");
  return /[A-Za-z]{2,}\s+[A-Za-z]{2,}\s+[A-Za-z]{2,}/.test(stripped) || LETTERS_OF_PROSE.test(stripped);
}

/** The first item starting within 50 characters after each "answer" (with a colon for priority 100). */
function afterAnswerWord<T extends { start: number }>(
  text: string,
  anchor: AnswerAnchor,
  items: T[],
  colonOnly: boolean,
): T[] {
  const out: T[] = [];
  for (const m of text.matchAll(anchor.all)) {
    if (colonOnly && m[1] !== ":") continue;
    const from = (m.index ?? 0) + m[0].length;
    const next = items.find((it) => it.start >= from && it.start <= from + 50);
    if (next) out.push(next);
  }
  return out;
}

/** The LaTeX answer patterns in priority order. Long by nature: a table of patterns, each a few lines. */
function latexProducers(text: string, cfg: ExtractionConfig): Producer[] {
  const chains = once(() => chainSpans(text, findMathSpans(text)));
  const chainCandidate = (chain: MathSpan[], priority: number, via: string): Candidate => ({
    priority,
    start: chain[0].start,
    end: chain[chain.length - 1].end,
    via,
    run: () =>
      latexPieces(
        chain.map((s) => ({ text: s.content, percent: s.percent })),
        cfg,
        cfg.boxed,
      ),
  });
  const out: Producer[] = [];
  const hasFinal = /final answer/i.test(text);
  if (hasFinal) {
    // Anchored patterns look for math right after their anchor, independently of the global scan.
    out.push({
      priority: 0,
      make: () => {
        const found: Candidate[] = [];
        for (const m of text.matchAll(/final answer is:?\s*/gi)) {
          const first = spanAt(text, (m.index ?? 0) + m[0].length);
          if (!first) continue;
          const chain = chainFrom(text, first);
          const end = chain[chain.length - 1].end;
          if (I_HOPE_AFTER.test(text.slice(end, end + 12)))
            found.push(chainCandidate(chain, 0, "final-answer"));
        }
        return found;
      },
    });
    out.push({
      priority: 50,
      make: () => {
        const found: Candidate[] = [];
        for (const m of text.matchAll(/final answer/gi)) {
          const from = (m.index ?? 0) + m[0].length;
          for (const is of text.slice(from, from + 110).matchAll(/\s+is:?\s*/g)) {
            if ((is.index ?? 0) > 100) break;
            const first = spanAt(text, from + (is.index ?? 0) + is[0].length);
            if (first) {
              found.push(chainCandidate(chainFrom(text, first), 50, "final-answer"));
              break;
            }
          }
        }
        return found;
      },
    });
  }
  const anchor = answerAnchor(cfg.languages);
  if (anchor.any.test(text)) {
    for (const [priority, colonOnly] of [
      [100, true],
      [200, false],
    ] as const) {
      out.push({
        priority,
        make: () => {
          const found: Candidate[] = [];
          for (const m of text.matchAll(anchor.all)) {
            if (colonOnly && m[1] !== ":") continue;
            const chain = firstChainFrom(text, (m.index ?? 0) + m[0].length, 50);
            if (chain) found.push(chainCandidate(chain, priority, "answer"));
          }
          return found;
        },
      });
    }
  }
  if (cfg.boxedPriority >= 0 && /\\(?:boxed|fbox)/.test(text)) {
    out.push({
      priority: cfg.boxedPriority,
      make: () => {
        const found: Candidate[] = [];
        for (const chain of chains()) {
          const boxedRun: MathSpan[] = [];
          for (const s of chain) {
            if (!/\\(?:boxed|fbox)/.test(s.content)) break;
            boxedRun.push(s);
          }
          if (boxedRun.length > 0) found.push(chainCandidate(boxedRun, cfg.boxedPriority, "boxed"));
        }
        const boxes = findBoxes(text);
        if (boxes.length > 0) {
          found.push({
            priority: cfg.boxedPriority,
            start: boxes[0].start,
            end: Math.max(text.lastIndexOf("}") + 1, boxes[boxes.length - 1].end),
            via: "boxed",
            run: () => latexPieces([{ text: text.slice(boxes[0].start), percent: false }], cfg, "last"),
          });
        }
        return found;
      },
    });
  }
  // golds like "-2,1" are lists of roots (MATH); as predictions they read as numbers (bare-answers.ts)
  if (cfg.bareLatex && text.length <= 400 && !hasMathDelimiters(text)) {
    out.push({
      priority: 250,
      make: () =>
        isProse(normalizeAnswer(text))
          ? []
          : [
              {
                priority: 250,
                start: 0,
                end: text.length,
                via: "bare",
                run: () => latexPieces([{ text, percent: false }], cfg, cfg.boxed),
              },
            ],
    });
  }
  if (cfg.anchorless)
    out.push({ priority: 300, make: () => chains().map((c) => chainCandidate(c, 300, "latex")) });
  return out;
}

/** An approximation sign right after a number or a closing bracket: what follows it is not the answer. */
const AFTER_EXACT_APPROX = /[\d)\]}]\s*(?:≈|≃|\\approx|\\simeq|~=)\s*$/;

function exprProducers(text: string, cfg: ExtractionConfig): Producer[] {
  // with bareMath, "2/3 ≈ 0.667": the value after the sign approximates the exact one before it
  const approx = cfg.bareMath && /≈|≃|\\approx|\\simeq|~=/.test(text);
  const nums = once(() =>
    findPlainNumbers(text, cfg.languages).filter(
      (m) => !approx || !AFTER_EXACT_APPROX.test(text.slice(Math.max(0, m.start - 24), m.start)),
    ),
  );
  const candidate = (m: PlainMatch, priority: number, via: string): Candidate => ({
    priority,
    start: m.start,
    end: m.end,
    via,
    run: () => plainValue(m),
  });
  const before = (m: PlainMatch) => text.slice(Math.max(0, m.start - 160), m.start);
  const out: Producer[] = [];
  if (/final answer/i.test(text)) {
    out.push({
      priority: 0,
      make: () =>
        nums()
          .filter((m) => FINAL_IS_BEFORE.test(before(m)) && I_HOPE_AFTER.test(text.slice(m.end, m.end + 12)))
          .map((m) => candidate(m, 0, "final-answer")),
    });
    out.push({
      priority: 50,
      make: () =>
        nums()
          .filter((m) => /final answer[\s\S]{0,100}?\s+is:?\s*$/i.test(before(m)))
          .map((m) => candidate(m, 50, "final-answer")),
    });
  }
  const anchor = answerAnchor(cfg.languages);
  if (anchor.any.test(text)) {
    const notFollowedByEq = once(() => nums().filter((m) => !/^\s*=/.test(text.slice(m.end, m.end + 8))));
    out.push({
      priority: 100,
      make: () =>
        afterAnswerWord(text, anchor, notFollowedByEq(), true).map((m) => candidate(m, 100, "answer")),
    });
    out.push({
      priority: 200,
      make: () =>
        afterAnswerWord(text, anchor, notFollowedByEq(), false).map((m) => candidate(m, 200, "answer")),
    });
  }
  if (cfg.anchorless) out.push({ priority: 300, make: () => nums().map((m) => candidate(m, 300, "number")) });
  return out;
}

/** Extracts the answer(s) of `text` according to `cfg`. Never throws on malformed input. */
export function extractAnswer(text: string, cfg: ExtractionConfig): Extracted {
  if (cfg.languages) text = foldWideForms(text);
  const producers = [
    ...(cfg.targets.includes("latex") ? latexProducers(text, cfg) : []),
    ...(cfg.targets.includes("expr") ? exprProducers(text, cfg) : []),
    ...(cfg.bareMath ? bareProducers(text, cfg) : []),
  ];
  const priorities = [...new Set(producers.map((p) => p.priority))].sort((a, b) => a - b);
  const values: Node[] = [];
  let fallback: string | null = null;
  let via = "none";
  for (const priority of priorities) {
    const group = producers
      .filter((p) => p.priority === priority)
      .flatMap((p) => p.make())
      .sort((a, b) => b.end - a.end || a.start - b.start);
    let found = false;
    for (const c of group) {
      const r = c.run();
      found = true;
      if (fallback === null && r.text) fallback = r.text;
      if (via === "none") via = c.via;
      if (r.node) {
        values.push(r.node);
        if (r.also) values.push(r.also);
        via = c.via;
        break;
      }
      if (cfg.mode === "first_match") break;
    }
    if (values.length > 0 || (found && cfg.mode === "first_match")) break;
  }
  return { values, fallback: cfg.fallback ? fallback : null, via };
}
