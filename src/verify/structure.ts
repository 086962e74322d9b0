/**
 * Rewrites of a parsed answer that decide its shape before comparison: ±
 * expansion into several answers, "≈" tails dropped from equation chains,
 * "x ∈ S" read as S, assignments (x = 5) recognised, inequalities turned into
 * intervals, and matrix arithmetic folded into one matrix.
 */
import type { Node } from "./ast.ts";
import { children, freeSymbols } from "./ast.ts";
import { exactValue } from "./evaluate.ts";
import { Rational } from "./rational.ts";

/** Rebuilds `n` with `kids` in place of its children (same order as ast.children). */
export function withChildren(n: Node, kids: Node[]): Node {
  switch (n.type) {
    case "add":
      return { ...n, terms: kids };
    case "mul":
      return { ...n, factors: kids };
    case "neg":
    case "percent":
      return { ...n, arg: kids[0] };
    case "div":
      return { ...n, num: kids[0], den: kids[1] };
    case "pow":
      return { ...n, base: kids[0], exp: kids[1] };
    case "pm":
      return n.left ? { ...n, left: kids[0], right: kids[1] } : { ...n, right: kids[0] };
    case "fn":
    case "apply":
      return { ...n, args: kids };
    case "idx":
      return { ...n, index: kids[0] };
    case "bigop":
      return { ...n, lo: kids[0], hi: kids[1], body: kids[2] };
    case "matrix": {
      const w = n.rows[0]?.length ?? 0;
      return { ...n, rows: n.rows.map((_, i) => kids.slice(i * w, (i + 1) * w)) };
    }
    case "ratio":
    case "list":
    case "set":
    case "tuple":
    case "rel":
      return { ...n, items: kids } as Node;
    case "interval":
      return { ...n, lo: kids[0], hi: kids[1] };
    case "union":
      return { ...n, parts: kids };
    default:
      return n;
  }
}

const MAX_VARIANTS = 8;

/** All readings of an expression with ± in it: 1 ± √5 -> [1 + √5, 1 - √5]. */
export function expandPm(n: Node): Node[] {
  if (n.type === "pm") {
    const lefts = n.left ? expandPm(n.left) : [null];
    const rights = expandPm(n.right);
    const out: Node[] = [];
    const signs = n.minusFirst ? [-1, 1] : [1, -1];
    for (const s of signs)
      for (const l of lefts)
        for (const r of rights) {
          const term: Node = s > 0 ? r : { type: "neg", arg: r };
          out.push(l ? { type: "add", terms: [l, term] } : term);
        }
    return out.slice(0, MAX_VARIANTS);
  }
  const kids = childrenOf(n);
  if (kids.length === 0) return [n];
  let combos: Node[][] = [[]];
  for (const k of kids) {
    const vs = expandPm(k);
    if (vs.length === 1) combos = combos.map((c) => [...c, vs[0]]);
    else combos = combos.flatMap((c) => vs.map((v) => [...c, v])).slice(0, MAX_VARIANTS);
  }
  return combos.map((c) => withChildren(n, c));
}

function childrenOf(n: Node): Node[] {
  switch (n.type) {
    case "list":
    case "set":
      return []; // collections expand element-wise in expandAnswer
    default:
      return children(n);
  }
}

/**
 * Drops approximations, keeping the exact form (Math-Verify's reading of \approx):
 * x = 1/3 ≈ 0.33 -> x = 1/3; 9.5/3.14159 ≈ 3.01 -> 9.5/3.14159; x ≈ 11 -> x = 11 (a
 * symbol approximately equal to a value is given that value). "~" is also \sim and
 * \simeq: it counts as an approximation only when the side after it is a constant,
 * so \triangle ABC \sim \triangle DEF stays a relation.
 */
export function dropApprox(n: Node): Node {
  if (n.type !== "rel") return n;
  const first = n.ops.findIndex((o, i) => o === "~" && freeSymbols(n.items[i + 1]).size === 0);
  if (first < 0) return n;
  if (first > 0) {
    const items = n.items.slice(0, first + 1);
    return { type: "rel", items, ops: n.ops.slice(0, first) };
  }
  const lhs = n.items[0];
  if (isSymbolic(lhs)) return { type: "rel", items: [lhs, n.items[1]], ops: ["="] };
  return lhs;
}

/** Whether an expression is made of symbols only (x, AB, f(x), |AB|, A:B, (p, q)), no numbers. */
export function isSymbolic(n: Node): boolean {
  switch (n.type) {
    case "sym":
    case "text":
      return true;
    case "apply":
      return n.args.every((a) => isSymbolic(a) || a.type === "num");
    case "idx":
      return true;
    case "mul":
      return n.factors.every(isSymbolic);
    case "div":
      return isSymbolic(n.num) && isSymbolic(n.den);
    case "ratio":
    case "tuple":
      return n.items.every(isSymbolic);
    case "fn":
      return n.name === "abs" && isSymbolic(n.args[0]);
    default:
      return false;
  }
}

/** A relation whose operators are all "=". */
export function isEquation(n: Node): boolean {
  return n.type === "rel" && n.ops.every((o) => o === "=");
}

/** An equation whose left side is symbols only: x = 5, f(x) = 2x, (p, q) = (3, 2). */
export function isAssignment(n: Node): boolean {
  return n.type === "rel" && isEquation(n) && isSymbolic(n.items[0]);
}

/** Reads "x ∈ S" as S (when the left side is symbols only). */
export function unwrapElement(n: Node): Node {
  if (n.type === "rel" && n.ops.length === 1 && n.ops[0] === "in" && isSymbolic(n.items[0]))
    return n.items[1];
  return n;
}

const NEG_INF: Node = { type: "neg", arg: { type: "const", name: "inf" } };
const POS_INF: Node = { type: "const", name: "inf" };

function isConstant(n: Node): boolean {
  return freeSymbols(n).size === 0;
}

/** The variable side of a one-variable inequality: a symbol-like term, or a linear a*x + b. */
function linearForm(v: Node): { scale: Rational; offset: Rational } | null {
  const syms = [...freeSymbols(v)];
  if (syms.length !== 1 || syms[0].endsWith("()") || syms[0].endsWith("[]")) return null;
  const at = (x: number) => exactValue(substitute(v, syms[0], Rational.int(x)));
  const [f0, f1, f2] = [at(0), at(1), at(2)];
  if (!f0 || !f1 || !f2) return null;
  const scale = f1.sub(f0);
  if (!scale || scale.isZero() || !f2.sub(f1)?.equals(scale)) return null;
  return { scale, offset: f0 };
}

/** Replaces symbol `name` by the number `value`. */
export function substitute(n: Node, name: string, value: Rational): Node {
  if (n.type === "sym")
    return n.name === name
      ? { type: "num", value, approx: value.toNumber(), inexact: false, text: value.toString() }
      : n;
  if (n.type === "bigop" && n.variable === name) return n;
  const kids = children(n);
  if (kids.length === 0) return n;
  return withChildren(
    n,
    kids.map((k) => substitute(k, name, value)),
  );
}

type Bound = { at: Node; open: boolean };

function solveSide(variable: Node, op: string, c: Node): { lo: Bound | null; hi: Bound | null } | null {
  let lower = op === ">" || op === ">=";
  const open = op === "<" || op === ">";
  let bound = c;
  if (!(variable.type === "sym" || variable.type === "apply" || variable.type === "idx")) {
    const lin = linearForm(variable);
    const cv = exactValue(c);
    if (!lin || !cv) return null;
    const b = cv.sub(lin.offset)?.div(lin.scale);
    if (!b) return null;
    bound = { type: "num", value: b, approx: b.toNumber(), inexact: false, text: b.toString() };
    if (lin.scale.sign() < 0) lower = !lower;
  }
  return lower ? { lo: { at: bound, open }, hi: null } : { lo: null, hi: { at: bound, open } };
}

const FLIP: Record<string, string> = { "<": ">", "<=": ">=", ">": "<", ">=": "<=" };

/**
 * A one-variable inequality (or chain) as a set: x > 5 -> (5, ∞); -2 <= x <= 7 -> [-2, 7];
 * 1 <= |z| <= 3/2 -> [-3/2, -1] ∪ [1, 3/2]; x != 3 -> (-∞, 3) ∪ (3, ∞). Null when not of that form.
 */
export function relationToSet(n: Node): Node | null {
  if (n.type !== "rel") return null;
  if (n.ops.length === 1 && n.ops[0] === "!=") {
    const [a, b] = n.items;
    const c = isConstant(b) ? b : isConstant(a) ? a : null;
    if (!c) return null;
    return {
      type: "union",
      parts: [
        { type: "interval", lo: NEG_INF, hi: c, loOpen: true, hiOpen: true },
        { type: "interval", lo: c, hi: POS_INF, loOpen: true, hiOpen: true },
      ],
    };
  }
  if (!n.ops.every((o) => o in FLIP) || n.ops.length > 2) return null;
  const varIndex = n.items.findIndex((it) => !isConstant(it));
  if (varIndex < 0 || n.items.some((it, i) => i !== varIndex && !isConstant(it))) return null;
  let v = n.items[varIndex];
  const abs = v.type === "fn" && v.name === "abs";
  if (abs) v = (v as Extract<Node, { type: "fn" }>).args[0];
  let lo: Bound | null = null;
  let hi: Bound | null = null;
  const apply = (side: { lo: Bound | null; hi: Bound | null } | null) => {
    if (!side) return false;
    lo = side.lo ?? lo;
    hi = side.hi ?? hi;
    return true;
  };
  if (varIndex > 0 && !apply(solveSide(v, FLIP[n.ops[varIndex - 1]], n.items[varIndex - 1]))) return null;
  if (varIndex < n.items.length - 1 && !apply(solveSide(v, n.ops[varIndex], n.items[varIndex + 1])))
    return null;
  const L = lo as Bound | null;
  const H = hi as Bound | null;
  const interval = (a: Bound | null, b: Bound | null): Node => ({
    type: "interval",
    lo: a ? a.at : NEG_INF,
    hi: b ? b.at : POS_INF,
    loOpen: a ? a.open : true,
    hiOpen: b ? b.open : true,
  });
  if (!abs) return interval(L, H);
  const neg = (b: Bound): Bound => ({ at: { type: "neg", arg: b.at }, open: b.open });
  if (H && !L) return interval(neg(H), H);
  if (L && !H) return { type: "union", parts: [interval(null, neg(L)), interval(L, null)] };
  if (L && H) return { type: "union", parts: [interval(neg(H), neg(L)), interval(L, H)] };
  return null;
}

type Matrix = Extract<Node, { type: "matrix" }>;

function scaleMatrix(m: Matrix, s: Node): Matrix {
  return {
    type: "matrix",
    rows: m.rows.map((r) => r.map((x) => ({ type: "mul", factors: [s, x] }) as Node)),
  };
}

/** Folds sums, products and negations of matrices into one matrix; null when `n` is no matrix expression. */
export function foldMatrix(n: Node): Matrix | null {
  switch (n.type) {
    case "matrix":
      return n;
    case "neg": {
      const m = foldMatrix(n.arg);
      return (
        m && { type: "matrix", rows: m.rows.map((r) => r.map((x) => ({ type: "neg", arg: x }) as Node)) }
      );
    }
    case "add": {
      const ms = n.terms.map(foldMatrix);
      if (ms.some((m) => !m)) return null;
      const [first, ...rest] = ms as Matrix[];
      if (rest.some((m) => m.rows.length !== first.rows.length || m.rows[0].length !== first.rows[0].length))
        return null;
      return {
        type: "matrix",
        rows: first.rows.map((r, i) =>
          r.map((x, j) => ({ type: "add", terms: [x, ...rest.map((m) => m.rows[i][j])] }) as Node),
        ),
      };
    }
    case "mul": {
      let acc: Matrix | null = null;
      const scalars: Node[] = [];
      for (const f of n.factors) {
        const m =
          f.type === "matrix" || f.type === "add" || f.type === "neg" || f.type === "mul"
            ? foldMatrix(f)
            : null;
        if (!m) {
          scalars.push(f);
          continue;
        }
        if (!acc) acc = m;
        else {
          const a: Matrix = acc;
          if (a.rows[0].length !== m.rows.length) return null;
          acc = {
            type: "matrix",
            rows: a.rows.map((r) =>
              m.rows[0].map(
                (_, j) =>
                  ({
                    type: "add",
                    terms: r.map((x, k) => ({ type: "mul", factors: [x, m.rows[k][j]] }) as Node),
                  }) as Node,
              ),
            ),
          };
        }
      }
      if (!acc) return null;
      return scalars.length === 0
        ? acc
        : scaleMatrix(acc, scalars.length === 1 ? scalars[0] : { type: "mul", factors: scalars });
    }
    default:
      return null;
  }
}
