/**
 * One comparison, synchronously: extract the gold and the prediction, parse
 * them, and decide equality under a cooperative time budget. This is what the
 * worker threads run (pool.ts adds the hard time limit); call it directly only
 * where blocking the thread is acceptable.
 */
import { type Node, show } from "./ast.ts";
import { Budget, VerifyTimeout } from "./budget.ts";
import { answersEqual, type CompareOptions, prepare } from "./compare.ts";
import {
  type ExtractionConfig,
  resolveExtraction,
  type VerifyOptions,
  type VerifyOptionsInput,
  VerifyOptionsSchema,
} from "./config.ts";
import { extractAnswer } from "./extract.ts";
import { symbolicEqual } from "./symbolic.ts";

/** What was extracted from one side. */
export interface ParsedSide {
  /** Canonical renderings of the parsed values (ast.show). */
  parsed: string[];
  /** Normalised text of the first match (compared as a string when nothing parsed), or null. */
  text: string | null;
  /** Which pattern matched: "boxed", "final-answer", "answer", "bare", "latex", "number", "none". */
  via: string;
}

/** The outcome of comparing one gold answer with one prediction. */
export interface VerifyResult {
  equivalent: boolean;
  gold: ParsedSide;
  pred: ParsedSide;
  /** Milliseconds the comparison took. */
  ms: number;
  timedOut: boolean;
  /** Set when the comparison failed unexpectedly (it then counts as not equal). */
  error?: string;
}

/** Recent gold extractions: in GRPO every gold is checked against a whole group of completions. */
const goldCache = new Map<string, ReturnType<typeof extractAnswer>>();
const GOLD_CACHE_SIZE = 512;

/** A configuration's cache key, computed once per config object (presets are shared objects). */
const configKeys = new WeakMap<ExtractionConfig, string>();
function configKey(cfg: ExtractionConfig): string {
  let key = configKeys.get(cfg);
  if (key === undefined) {
    key = JSON.stringify(cfg);
    configKeys.set(cfg, key);
  }
  return key;
}

function extractGold(text: string, cfg: ExtractionConfig): ReturnType<typeof extractAnswer> {
  if (text.length > 4096) return extractAnswer(text, cfg);
  const key = `${configKey(cfg)}\u0000${text}`;
  let hit = goldCache.get(key);
  if (hit) {
    goldCache.delete(key); // refresh its place in the LRU order
  } else {
    hit = extractAnswer(text, cfg);
    if (goldCache.size >= GOLD_CACHE_SIZE) goldCache.delete(goldCache.keys().next().value as string);
  }
  goldCache.set(key, hit);
  return hit;
}

function side(values: Node[], text: string | null, via: string): ParsedSide {
  return { parsed: values.map(show), text, via };
}

function sameText(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return false;
  const x = a.replace(/\s+/g, "");
  return x.length > 0 && x === b.replace(/\s+/g, "");
}

/** Whether `a` and `b` are the same text once whitespace is left out (no copies: outputs can be long). */
function sameUpToSpaces(a: string, b: string): boolean {
  let i = 0;
  let j = 0;
  let chars = 0;
  for (;;) {
    while (i < a.length && isSpace(a.charCodeAt(i))) i++;
    while (j < b.length && isSpace(b.charCodeAt(j))) j++;
    if (i === a.length || j === b.length) return i === a.length && j === b.length && chars > 0;
    if (a.charCodeAt(i) !== b.charCodeAt(j)) return false;
    i++;
    j++;
    chars++;
  }
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x3000;
}

/**
 * Decides whether `pred` (a model output or answer) answers `gold` (a gold answer),
 * blocking until done or until `timeoutMs` (checked cooperatively). Identical texts
 * (up to whitespace) are equivalent whenever the gold yields an answer at all.
 */
export function verifySync(
  gold: string,
  pred: string,
  options: VerifyOptionsInput | VerifyOptions = {},
): VerifyResult {
  const t0 = performance.now();
  const opts = VerifyOptionsSchema.parse(options);
  const budget = new Budget(t0 + opts.timeoutMs);
  let g = { values: [] as Node[], fallback: null as string | null, via: "none" };
  let p = { ...g };
  const done = (equivalent: boolean, extra: Partial<VerifyResult> = {}): VerifyResult => ({
    equivalent,
    gold: side(g.values, g.fallback, g.via),
    pred: side(p.values, p.fallback, p.via),
    ms: Math.round((performance.now() - t0) * 1000) / 1000,
    timedOut: false,
    ...extra,
  });
  try {
    g = extractGold(String(gold), resolveExtraction(opts.gold));
    budget.checkNow();
    p = extractAnswer(String(pred), resolveExtraction(opts.pred));
    budget.checkNow();
    const o: CompareOptions = {
      precision: opts.precision,
      strict: opts.strict,
      allowSetRelationComparison: opts.allowSetRelationComparison,
      budget,
      symbolic: symbolicEqual,
    };
    // identical answers are equivalent however they are read (a gold read as LaTeX, a prediction as a number)
    if ((g.values.length > 0 || g.fallback !== null) && sameUpToSpaces(String(gold), String(pred)))
      return done(true);
    for (const gv of g.values) {
      const gp = prepare(gv);
      for (const pv of p.values) if (answersEqual(gp, prepare(pv), o)) return done(true);
    }
    return done(sameText(g.fallback, p.fallback));
  } catch (e) {
    if (e instanceof VerifyTimeout) return done(false, { timedOut: true });
    return done(false, { error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  }
}
