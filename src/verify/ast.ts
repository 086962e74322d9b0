/**
 * The verifier's parsed form of an answer: one tree type for scalars (numbers,
 * symbols, operations), for structures (lists, sets, tuples, intervals, unions,
 * relations, matrices) and for text. `show` renders it canonically; that string
 * is what `verify` reports as the "parsed" form.
 */
import type { Rational } from "./rational.ts";

/** Relational operators, after normalisation (\leq -> "<=", \neq -> "!=", \approx -> "~"). */
export type RelOp = "=" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "in" | "notin" | "subset";

export type Node =
  /** A number. `value` is null when it is too large to hold exactly (then `approx` and `text` decide). */
  | { type: "num"; value: Rational | null; approx: number; inexact: boolean; text: string }
  | { type: "sym"; name: string }
  /** pi, Euler's e, infinity. */
  | { type: "const"; name: "pi" | "e" | "inf" }
  | { type: "add"; terms: Node[] }
  | { type: "mul"; factors: Node[] }
  | { type: "neg"; arg: Node }
  | { type: "div"; num: Node; den: Node }
  | { type: "pow"; base: Node; exp: Node }
  /** `left ± right`; `left` is null for a leading ±. `minusFirst` marks \mp. */
  | { type: "pm"; left: Node | null; right: Node; minusFirst: boolean }
  /** A known function: sin, sqrt (args[1] = index), log (args[1] = base), abs, factorial, binom, ... */
  | { type: "fn"; name: string; args: Node[] }
  /** An undefined function applied to arguments: f(x), p'(2). */
  | { type: "apply"; name: string; args: Node[] }
  /** A symbol with a non-constant subscript: F_{n-k-1}. */
  | { type: "idx"; name: string; index: Node }
  | { type: "bigop"; op: "sum" | "prod"; variable: string; lo: Node; hi: Node; body: Node }
  | { type: "matrix"; rows: Node[][] }
  | { type: "percent"; arg: Node }
  /** A number written in another base: 204_5. */
  | { type: "based"; digits: string; base: string }
  | { type: "ratio"; items: Node[] }
  /** Words: \text{Evelyn}; also a letter choice "(C)" normalised to "C". */
  | { type: "text"; value: string }
  /** Unordered collection written without delimiters ("1, 2", "3 and 4", several boxes). */
  | { type: "list"; items: Node[] }
  /** Unordered collection written with braces: \{1, 2\}. */
  | { type: "set"; items: Node[] }
  /** Ordered collection: (1, 2, 3). `paren2` marks "(a, b)", which may also mean an open interval. */
  | { type: "tuple"; items: Node[]; paren2: boolean }
  | { type: "interval"; lo: Node; hi: Node; loOpen: boolean; hiOpen: boolean }
  | { type: "union"; parts: Node[] }
  | { type: "rel"; items: Node[]; ops: RelOp[] };

export type NodeType = Node["type"];

/** Builds a number node from an exact value. */
export function num(value: Rational, inexact = false, text?: string): Node {
  return { type: "num", value, approx: value.toNumber(), inexact, text: text ?? value.toString() };
}

const COLLECTIONS = new Set<NodeType>(["list", "set", "tuple", "interval", "union"]);

/** True for lists, sets, tuples, intervals and unions. */
export function isCollection(n: Node): boolean {
  return COLLECTIONS.has(n.type);
}

/** Visits every node (pre-order). The visitor returns false to skip children. */
export function walk(n: Node, visit: (n: Node) => boolean | undefined): void {
  if (visit(n) === false) return;
  for (const c of children(n)) walk(c, visit);
}

/** Direct children of a node. */
export function children(n: Node): Node[] {
  switch (n.type) {
    case "add":
      return n.terms;
    case "mul":
      return n.factors;
    case "neg":
    case "percent":
      return [n.arg];
    case "div":
      return [n.num, n.den];
    case "pow":
      return [n.base, n.exp];
    case "pm":
      return n.left ? [n.left, n.right] : [n.right];
    case "fn":
    case "apply":
      return n.args;
    case "idx":
      return [n.index];
    case "bigop":
      return [n.lo, n.hi, n.body];
    case "matrix":
      return n.rows.flat();
    case "ratio":
    case "list":
    case "set":
    case "tuple":
    case "rel":
      return n.items;
    case "interval":
      return [n.lo, n.hi];
    case "union":
      return n.parts;
    default:
      return [];
  }
}

/** Free symbol names (bound summation variables excluded). Applied functions count as `name()`. */
export function freeSymbols(
  n: Node,
  out: Set<string> = new Set(),
  bound: ReadonlySet<string> = new Set(),
): Set<string> {
  switch (n.type) {
    case "sym": {
      if (bound.has(n.name)) return out;
      // X_k with k a summation variable is an indexed family, not a constant
      const sub = /^(.+)_([A-Za-z])$/.exec(n.name);
      out.add(sub && bound.has(sub[2]) ? `${sub[1]}[]` : n.name);
      return out;
    }
    case "bigop": {
      freeSymbols(n.lo, out, bound);
      freeSymbols(n.hi, out, bound);
      freeSymbols(n.body, out, new Set([...bound, n.variable]));
      return out;
    }
    case "apply":
      out.add(`${n.name}()`);
      break;
    case "idx":
      out.add(`${n.name}[]`);
      break;
  }
  for (const c of children(n)) freeSymbols(c, out, bound);
  return out;
}

/** True when any number literal in the tree was written as a decimal (0.25, 1e-3). */
export function hasInexact(n: Node): boolean {
  let found = false;
  walk(n, (m) => {
    if (found) return false;
    if (m.type === "num" && m.inexact) found = true;
    return !found;
  });
  return found;
}

const PREC: Partial<Record<NodeType, number>> = { add: 1, pm: 1, mul: 2, div: 2, neg: 3, pow: 4 };

function wrap(n: Node, parentPrec: number): string {
  const s = show(n);
  const p = PREC[n.type] ?? 9;
  return p < parentPrec ? `(${s})` : s;
}

const REL_TEXT: Record<RelOp, string> = {
  "=": "=",
  "!=": "!=",
  "<": "<",
  "<=": "<=",
  ">": ">",
  ">=": ">=",
  "~": "≈",
  in: "∈",
  notin: "∉",
  subset: "⊆",
};

/** Canonical, human-readable rendering: "1/3", "{1, 2}", "(0, 1]", "x = 11", "[[1, 0], [0, 1]]". */
export function show(n: Node): string {
  switch (n.type) {
    case "num":
      return n.text.length > 60 ? `${n.text.slice(0, 28)}…(${n.text.length} chars)` : n.text;
    case "sym":
      return n.name;
    case "const":
      return n.name === "inf" ? "∞" : n.name;
    case "add":
      return n.terms
        .map((t, i) => {
          if (i > 0 && t.type === "neg") return ` - ${wrap(t.arg, 2)}`;
          return i === 0 ? wrap(t, 1) : ` + ${wrap(t, 1)}`;
        })
        .join("");
    case "mul":
      return n.factors.map((f) => wrap(f, 2)).join("*");
    case "neg":
      return `-${wrap(n.arg, 3)}`;
    case "div":
      return `${wrap(n.num, 2)}/${wrap(n.den, 3)}`;
    case "pow":
      return `${wrap(n.base, 5)}^${wrap(n.exp, 5)}`;
    case "pm":
      return n.left
        ? `${wrap(n.left, 1)} ${n.minusFirst ? "∓" : "±"} ${wrap(n.right, 2)}`
        : `±${wrap(n.right, 3)}`;
    case "fn":
    case "apply":
      return `${n.name}(${n.args.map(show).join(", ")})`;
    case "idx":
      return `${n.name}_{${show(n.index)}}`;
    case "bigop":
      return `${n.op}(${n.variable}=${show(n.lo)}..${show(n.hi)}, ${show(n.body)})`;
    case "matrix":
      return `[${n.rows.map((r) => `[${r.map(show).join(", ")}]`).join(", ")}]`;
    case "percent":
      return `${wrap(n.arg, 5)}%`;
    case "based":
      return `${n.digits}_${n.base}`;
    case "ratio":
      return n.items.map((i) => wrap(i, 2)).join(":");
    case "text":
      return JSON.stringify(n.value);
    case "list":
      return n.items.map(show).join(", ");
    case "set":
      return `{${n.items.map(show).join(", ")}}`;
    case "tuple":
      return `(${n.items.map(show).join(", ")})`;
    case "interval":
      return `${n.loOpen ? "(" : "["}${show(n.lo)}, ${show(n.hi)}${n.hiOpen ? ")" : "]"}`;
    case "union":
      return n.parts.map(show).join(" ∪ ");
    case "rel":
      return n.items.map((it, i) => (i === 0 ? show(it) : ` ${REL_TEXT[n.ops[i - 1]]} ${show(it)}`)).join("");
  }
}
