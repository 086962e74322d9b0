/**
 * Equality of two parsed answers with structure: relations and equations,
 * lists (unordered) and tuples (ordered), intervals and unions, and the
 * gold/prediction asymmetries of Math-Verify: a predicted equation counts by its
 * last value (x = 5 answers 5), a gold assignment too (gold k = 1 accepts 1);
 * a gold inequality is read as a set when the prediction is a set, but a
 * predicted inequality against a gold set only with `allowSetRelationComparison`.
 */
import type { Node, RelOp } from "./ast.ts";
import { freeSymbols, hasInexact } from "./ast.ts";
import { numericValue } from "./evaluate.ts";
import { closeAtPrecision, type ScalarOptions, sameTree, scalarEqual } from "./scalar.ts";
import { dropApprox, expandPm, isAssignment, isEquation, relationToSet, unwrapElement } from "./structure.ts";

export interface CompareOptions extends ScalarOptions {
  /** Also read a predicted inequality as a set when the gold is a set (Math-Verify's allow_set_relation_comp). */
  allowSetRelationComparison: boolean;
}

type Rel = Extract<Node, { type: "rel" }>;

/** Shapes a parsed answer for comparison: ≈ tails, "x ∈ S", ± expansion (recursively into lists). */
export function prepare(n: Node): Node {
  if (n.type === "list" || n.type === "set") {
    const items = n.items.flatMap((it) => {
      const p = prepare(it);
      return p.type === "list" && it.type !== "list" ? p.items : [p];
    });
    return { ...n, items };
  }
  let m = unwrapElement(dropApprox(n));
  if (m.type === "rel")
    m = { ...m, items: m.items.map((it) => (it.type === "list" ? it : unwrapElement(it))) };
  const variants = expandPm(m);
  return variants.length > 1 ? { type: "list", items: variants } : m;
}

const SETLIKE = new Set(["interval", "union", "set", "list"]);
function isSetLike(n: Node): boolean {
  return SETLIKE.has(n.type) || (n.type === "tuple" && n.paren2);
}

/** Chains of equations with an assignment shrink to first = last: x = 5 + 6 = 11 -> x = 11. */
function truncate(r: Rel): Rel {
  if (r.items.length > 2 && isAssignment(r))
    return { type: "rel", items: [r.items[0], r.items[r.items.length - 1]], ops: ["="] };
  return r;
}

const FLIPPED: Record<RelOp, RelOp> = {
  "=": "=",
  "!=": "!=",
  "<": ">",
  "<=": ">=",
  ">": "<",
  ">=": "<=",
  "~": "~",
  in: "in",
  notin: "notin",
  subset: "subset",
};

/**
 * lhs1 - rhs1 and lhs2 - rhs2 are proportional: "same" needs a positive ratio, "opposite" a
 * negative one, "any" a non-zero one. Decided at sample points, like scalar identities.
 */
function proportional(d1: Node, d2: Node, sign: "same" | "opposite" | "any", o: CompareOptions): boolean {
  const inexact = hasInexact(d1) || hasInexact(d2);
  const close = (a: number, b: number) =>
    inexact
      ? closeAtPrecision(a, b, o.precision)
      : Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  const vars = [...new Set([...freeSymbols(d1), ...freeSymbols(d2)])].filter((s) => !/[\])]$/.test(s));
  let ratio: number | null = null;
  let valid = 0;
  for (let k = 0; k < 12; k++) {
    o.budget.check();
    const env = new Map(
      vars.map((v, i) => [v, k % 2 === 0 ? 2 + ((k * 7 + i * 3) % 9) : 0.37 + ((k * 1.618 + i * 0.7) % 2.9)]),
    );
    const a = numericValue(d1, env, o.budget);
    const b = numericValue(d2, env, o.budget);
    if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
    const za = close(a, 0);
    const zb = close(b, 0);
    if (za && zb) {
      valid++;
      continue;
    }
    if (za !== zb) return false;
    const r = a / b;
    if (ratio === null) ratio = r;
    else if (!close(r, ratio)) return false;
    valid++;
    if (vars.length === 0) break;
  }
  if (valid === 0 || (vars.length > 0 && valid < 3)) return false;
  if (ratio === null) return true; // both sides identically zero
  return sign === "any" || (sign === "same" ? ratio > 0 : ratio < 0);
}

function difference(a: Node, b: Node): Node {
  return { type: "add", terms: [a, { type: "neg", arg: b }] };
}

/** One relation step: a op b against c op' d. */
function stepEqual(a: Node, op: RelOp, b: Node, c: Node, op2: RelOp, d: Node, o: CompareOptions): boolean {
  const scalarSides = ![a, b, c, d].some(
    (n) => n.type === "tuple" || n.type === "list" || n.type === "set" || n.type === "interval",
  );
  if (op === op2 && answersEqual(a, c, o) && answersEqual(b, d, o)) return true;
  if (FLIPPED[op] === op2 && op !== op2 && answersEqual(a, d, o) && answersEqual(b, c, o)) return true;
  if (op === "=" && op2 === "=" && answersEqual(a, d, o) && answersEqual(b, c, o)) return true;
  if (!scalarSides || op === "in" || op === "notin" || op === "subset" || op === "~") return false;
  if (op === op2)
    return proportional(difference(a, b), difference(c, d), op === "=" || op === "!=" ? "any" : "same", o);
  if (FLIPPED[op] === op2) return proportional(difference(a, b), difference(c, d), "opposite", o);
  return false;
}

function relationsEqual(g: Rel, p: Rel, o: CompareOptions): boolean {
  g = truncate(g);
  p = truncate(p);
  if (g.ops.length !== p.ops.length) return false;
  const forward = () =>
    g.ops.every((op, i) =>
      stepEqual(g.items[i], op, g.items[i + 1], p.items[i], p.ops[i], p.items[i + 1], o),
    );
  if (forward()) return true;
  if (g.ops.length < 2) return false;
  // a < b < c against c > b > a
  const rev: Rel = {
    type: "rel",
    items: [...p.items].reverse(),
    ops: [...p.ops].reverse().map((op) => FLIPPED[op]),
  };
  return g.ops.every((op, i) =>
    stepEqual(g.items[i], op, g.items[i + 1], rev.items[i], rev.ops[i], rev.items[i + 1], o),
  );
}

/**
 * Unordered equality of two item lists, as sets: every gold item equals some
 * predicted item and every predicted item equals some gold item (so repeated
 * items do not matter, as in a set).
 */
function unorderedEqual(gs: Node[], ps: Node[], o: CompareOptions): boolean {
  if (gs.length === ps.length && gs.every((g, i) => answersEqual(g, ps[i], o))) return true;
  const memo = new Map<number, boolean>();
  const eq = (i: number, j: number) => {
    const key = i * ps.length + j;
    let v = memo.get(key);
    if (v === undefined) {
      v = answersEqual(gs[i], ps[j], o);
      memo.set(key, v);
    }
    return v;
  };
  for (let i = 0; i < gs.length; i++) {
    o.budget.check();
    if (!ps.some((_, j) => eq(i, j))) return false;
  }
  for (let j = 0; j < ps.length; j++) {
    o.budget.check();
    if (!gs.some((_, i) => eq(i, j))) return false;
  }
  return true;
}

function orderedEqual(gs: Node[], ps: Node[], o: CompareOptions): boolean {
  return gs.length === ps.length && gs.every((g, i) => answersEqual(g, ps[i], o));
}

type Interval = Extract<Node, { type: "interval" }>;

function intervalEqual(a: Interval, b: Interval, o: CompareOptions): boolean {
  return (
    a.loOpen === b.loOpen &&
    a.hiOpen === b.hiOpen &&
    answersEqual(a.lo, b.lo, o) &&
    answersEqual(a.hi, b.hi, o)
  );
}

/** Intervals, unions and sets as a list of parts, or null for anything else. */
function setParts(n: Node): Node[] | null {
  if (n.type === "union") return n.parts;
  if (n.type === "interval") return [n];
  return null;
}

function asOpenInterval(n: Node): Interval | null {
  if (n.type === "tuple" && n.paren2)
    return { type: "interval", lo: n.items[0], hi: n.items[1], loOpen: true, hiOpen: true };
  return n.type === "interval" ? n : null;
}

/** Items of an ordered or unordered collection, or of a column/row vector. */
function seqItems(n: Node): Node[] | null {
  if (n.type === "list" || n.type === "set" || n.type === "tuple") return n.items;
  if (n.type === "matrix" && (n.rows.length === 1 || n.rows[0].length === 1)) return n.rows.flat();
  return null;
}

/** Whether prediction `pred` answers gold `gold` (both parsed and prepared). */
export function answersEqual(gold: Node, pred: Node, o: CompareOptions): boolean {
  o.budget.check();
  if (sameTree(gold, pred)) return true;

  if (gold.type === "rel" && pred.type === "rel") return relationsEqual(gold, pred, o);
  if (pred.type === "rel") {
    if (isEquation(pred)) return answersEqual(gold, pred.items[pred.items.length - 1], o);
    if (o.allowSetRelationComparison && isSetLike(gold)) {
      const s = relationToSet(pred);
      return s !== null && answersEqual(gold, s, o);
    }
    return false;
  }
  if (gold.type === "rel") {
    if (isAssignment(gold) || (isEquation(gold) && gold.items.length > 2)) {
      return answersEqual(gold.items[gold.items.length - 1], pred, o);
    }
    if (isSetLike(pred)) {
      const s = relationToSet(gold);
      return s !== null && answersEqual(s, pred, o);
    }
    return false;
  }

  // intervals and unions
  const gi = gold.type === "interval" ? gold : null;
  const pi = pred.type === "interval" ? pred : null;
  if (gi || pi) {
    const a = gi ?? asOpenInterval(gold);
    const b = pi ?? asOpenInterval(pred);
    if (a && b && pred.type !== "union" && gold.type !== "union") return intervalEqual(a, b, o);
  }
  const gp = setParts(gold);
  const pp = setParts(pred);
  if (gold.type === "union" || pred.type === "union") {
    const a = gp ?? (isSetLike(gold) ? [asOpenInterval(gold) ?? gold] : null);
    const b = pp ?? (isSetLike(pred) ? [asOpenInterval(pred) ?? pred] : null);
    return a !== null && b !== null && unorderedEqual(a, b, o);
  }
  if (gi || pi) return false;

  const gs = seqItems(gold);
  const ps = seqItems(pred);
  if (gs && ps && (gold.type !== "matrix" || pred.type !== "matrix")) {
    if (gold.type === "tuple" || gold.type === "matrix" || pred.type === "matrix")
      return orderedEqual(gs, ps, o);
    return unorderedEqual(gs, ps, o);
  }
  if (gs && gold.type !== "matrix") return gs.length === 1 && answersEqual(gs[0], pred, o);
  if (ps && pred.type !== "matrix") return ps.length === 1 && answersEqual(gold, ps[0], o);
  return scalarEqual(gold, pred, o);
}
