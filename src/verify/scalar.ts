/**
 * Equality of two scalar answers (numbers, expressions, symbols, text), in the
 * order of the issue: the same tree; exact rationals; numbers at the answer's
 * precision (a relative tolerance, or agreement after rounding to `precision`
 * decimals as Math-Verify does); expressions with variables by evaluation at
 * fixed pseudo-random points; and, when evaluation cannot decide, the
 * symbolic check of @cortex-js/compute-engine (symbolic.ts).
 */
import { children, freeSymbols, hasInexact, type Node } from "./ast.ts";
import type { Budget } from "./budget.ts";
import { type Env, exactValue, numericValue } from "./evaluate.ts";
import { Rational } from "./rational.ts";
import { foldMatrix, withChildren as rebuild } from "./structure.ts";

/** Decides symbolic equality of two scalar expressions; null when it cannot tell. */
export type SymbolicCheck = (gold: Node, pred: Node) => boolean | null;

export interface ScalarOptions {
  /** Decimal places that must agree when a decimal literal is involved (Math-Verify's float_rounding). */
  precision: number;
  /** When false, variables are matched by position (f(x) equals f(y)). */
  strict: boolean;
  budget: Budget;
  symbolic?: SymbolicCheck;
}

/** Structural equality of two trees (numbers by value, names exactly). */
export function sameTree(a: Node, b: Node): boolean {
  if (a.type !== b.type) return false;
  switch (a.type) {
    case "num": {
      const bn = b as typeof a;
      if (a.value && bn.value) return a.value.equals(bn.value) && a.inexact === bn.inexact;
      return a.text === bn.text;
    }
    case "sym":
    case "const":
      return a.name === (b as typeof a).name;
    case "text":
      return a.value === (b as typeof a).value;
    case "based":
      return a.digits === (b as typeof a).digits && a.base === (b as typeof a).base;
    case "fn":
    case "apply":
    case "idx":
      if (a.name !== (b as typeof a).name) return false;
      break;
    case "interval":
      if (a.loOpen !== (b as typeof a).loOpen || a.hiOpen !== (b as typeof a).hiOpen) return false;
      break;
    case "rel":
      if (a.ops.join() !== (b as typeof a).ops.join()) return false;
      break;
    case "bigop":
      if (a.op !== (b as typeof a).op || a.variable !== (b as typeof a).variable) return false;
      break;
    case "matrix":
      if (
        a.rows.length !== (b as typeof a).rows.length ||
        a.rows[0].length !== (b as typeof a).rows[0].length
      )
        return false;
      break;
  }
  const ka = children(a);
  const kb = children(b);
  return ka.length === kb.length && ka.every((k, i) => sameTree(k, kb[i]));
}

/**
 * Equality of two doubles when a decimal literal is involved, by Math-Verify's rule:
 * both sides rounded to `precision` decimal places must be equal. So at precision 6,
 * π (3.141593) is not 3.14159 but is 3.1415926; 1/3 is 0.333333 and 0.3333333, not 0.33.
 * Two refinements: differences within double rounding noise (10^-14 relative, below
 * the 15 digits Math-Verify evaluates with) are equal, so 4.46e19 is 4.46 × 10^19;
 * and where rounding would keep fewer than three significant digits (|x| < 10^(2-p))
 * a relative tolerance of 10^-p decides instead, so 1.39e-10 and 2.39e-10 differ
 * (Math-Verify rounds both to 0).
 */
export function closeAtPrecision(a: number, b: number, precision: number): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  const scale = Math.max(Math.abs(a), Math.abs(b));
  if (Math.abs(a - b) <= 1e-14 * scale) return true;
  if (scale < 10 ** (2 - precision)) return Math.abs(a - b) <= 10 ** -precision * scale;
  if (scale >= 1e21) return false;
  const p = Math.min(Math.max(0, Math.round(precision)), 20);
  return roundTo(a, p) === roundTo(b, p);
}

/**
 * `x` rounded to `p` decimals, half away from zero on the decimal digits of
 * the shortest representation of `x` (as sympy rounds a Float written 0.3333335),
 * not on its binary value (toFixed alone would give 0.333333).
 */
function roundTo(x: number, p: number): number {
  const shortest = String(Math.abs(x));
  if (!shortest.includes("e")) {
    const dot = shortest.indexOf(".");
    if (dot < 0 || shortest.length - dot - 1 <= p) return x;
    const digit = shortest.charCodeAt(dot + 1 + p) - 48;
    const down = Number(shortest.slice(0, dot + 1 + p));
    const r = digit >= 5 ? down + 10 ** -p : down;
    return Math.sign(x) * Number(r.toFixed(p));
  }
  return Number(x.toFixed(p));
}

/** Equality of two doubles computed from exact inputs (only rounding error allowed). */
function closeTight(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

function lowerIfLong(s: string): string {
  return s.length > 1 ? s.toLowerCase() : s;
}

/** A name for symbol-ish answers: sym, e, products of symbols ("o d d" -> "odd"), text. */
function wordOf(n: Node): string | null {
  switch (n.type) {
    case "sym":
      return n.name;
    case "const":
      return n.name === "e" ? "e" : null;
    case "text":
      return n.value.replace(/\s+/g, " ").trim();
    case "mul": {
      const parts = n.factors.map(wordOf);
      return parts.every((p) => p !== null && p.length === 1) ? parts.join("") : null;
    }
    default:
      return null;
  }
}

/** Deterministic sample value for variable number `v` at trial `k`: small integers, then irregular reals. */
function sample(k: number, v: number): number {
  const h = Math.sin((k + 1) * 12.9898 + (v + 1) * 78.233) * 43758.5453;
  const frac = h - Math.floor(h);
  return k % 2 === 0 ? 2 + Math.floor(frac * 8) : 0.2 + frac * 3;
}

/**
 * Compares two expressions at 12 fixed points of their free variables:
 * "different" at the first point where both are defined and disagree,
 * "equal" when at least 3 points agree and none disagree, else "unknown".
 */
export function identityTest(
  g: Node,
  p: Node,
  close: (a: number, b: number) => boolean,
  budget: Budget,
): "equal" | "different" | "unknown" {
  const vars = [...new Set([...freeSymbols(g), ...freeSymbols(p)])].filter(
    (s) => !s.endsWith("()") && !s.endsWith("[]"),
  );
  let valid = 0;
  for (let k = 0; k < 12; k++) {
    budget.check();
    const env: Env = new Map(vars.map((name, i) => [name, sample(k, i)]));
    const a = numericValue(g, env, budget);
    const b = numericValue(p, env, budget);
    if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
    if (!close(a, b)) return "different";
    valid++;
  }
  return valid >= 3 ? "equal" : "unknown";
}

/** Renames the prediction's free symbols to the gold's, by sorted position, when both have as many. */
function renameVariables(g: Node, p: Node): Node {
  const gs = [...freeSymbols(g)].filter((s) => !s.endsWith("()") && !s.endsWith("[]")).sort();
  const ps = [...freeSymbols(p)].filter((s) => !s.endsWith("()") && !s.endsWith("[]")).sort();
  if (gs.length !== ps.length || gs.length === 0) return p;
  const map = new Map(ps.map((name, i) => [name, gs[i]]));
  const rename = (n: Node): Node => {
    if (n.type === "sym") return { type: "sym", name: map.get(n.name) ?? n.name };
    const kids = children(n);
    if (kids.length === 0) return n;
    return rebuild(n, kids.map(rename));
  };
  return rename(p);
}

function constantEqual(g: Node, p: Node, o: ScalarOptions): boolean {
  const inexact = hasInexact(g) || hasInexact(p);
  const eg = exactValue(g, o.budget);
  const ep = eg && exactValue(p, o.budget);
  if (eg && ep && !inexact) return eg.equals(ep);
  const a = eg ? eg.toNumber() : numericValue(g, undefined, o.budget);
  const b = ep ? ep.toNumber() : numericValue(p, undefined, o.budget);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return inexact ? closeAtPrecision(a, b, o.precision) : closeTight(a, b);
}

/** Whether the scalar answers `gold` and `pred` are equal. */
export function scalarEqual(gold: Node, pred: Node, o: ScalarOptions): boolean {
  o.budget.check();
  if (sameTree(gold, pred)) return true;

  // Words and letters: \text{odd} = odd, \text{E} = E, \text{e} = e.
  const wg = wordOf(gold);
  const wp = wordOf(pred);
  if (gold.type === "text" || pred.type === "text" || (gold.type === "sym" && pred.type === "sym")) {
    if (wg === null || wp === null) return false;
    return wg.length > 1 || wp.length > 1 ? lowerIfLong(wg) === lowerIfLong(wp) : wg === wp;
  }
  if (gold.type === "based" || pred.type === "based") {
    const digits = (n: Node) => (n.type === "based" ? n.digits : n.type === "num" ? n.text : null);
    const bases = [gold, pred].filter((n) => n.type === "based").map((n) => (n as { base: string }).base);
    return digits(gold) !== null && digits(gold) === digits(pred) && new Set(bases).size === 1;
  }

  // 28% equals 28% and 0.28; a bare 28 is also accepted for 28% (and the reverse).
  if (gold.type === "percent" || pred.type === "percent") {
    if (gold.type === "percent" && pred.type === "percent") return scalarEqual(gold.arg, pred.arg, o);
    const [pc, other] =
      gold.type === "percent" ? [gold, pred] : [pred as Extract<Node, { type: "percent" }>, gold];
    return scalarEqual(pc.arg, other, o) || scalarEqual({ type: "div", num: pc.arg, den: num100 }, other, o);
  }

  const mg = foldMatrix(gold);
  const mp = foldMatrix(pred);
  if (mg || mp) {
    if (!mg || !mp || mg.rows.length !== mp.rows.length || mg.rows[0].length !== mp.rows[0].length)
      return false;
    return mg.rows.every((r, i) => r.every((x, j) => scalarEqual(x, mp.rows[i][j], o)));
  }

  let p: Node = pred;
  if (!o.strict) p = renameVariables(gold, pred);
  const vars = new Set([...freeSymbols(gold), ...freeSymbols(p)]);
  if (vars.size === 0) return constantEqual(gold, p, o);

  const inexact = hasInexact(gold) || hasInexact(p);
  const close = inexact ? (a: number, b: number) => closeAtPrecision(a, b, o.precision) : closeTight;
  const verdict = identityTest(gold, p, close, o.budget);
  if (verdict !== "unknown") return verdict === "equal";
  return o.symbolic?.(gold, p) ?? false;
}

const num100: Node = { type: "num", value: Rational.int(100), approx: 100, inexact: false, text: "100" };
