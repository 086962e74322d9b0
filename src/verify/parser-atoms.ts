/**
 * The parser's atoms: numbers (and 204_5 style bases), letters with subscripts
 * and primes, f(x) applications, plain sqrt(...)/sin(...) words, bracketed
 * groups (group, tuple or interval), |x| bars and raw braced text.
 */
import type { Node } from "./ast.ts";
import { ParseError } from "./lexer.ts";
import type { Parser } from "./parser.ts";
import { Rational } from "./rational.ts";

/** Single letters read as functions when followed directly by "(": f(x), g(2), P(x). */
const FUNCTION_LETTERS = /^(?:[fghpqFGHPQW]'*|[fgh]_\w+)$/;
const PLAIN_FUNCTIONS = new Set([
  "sqrt",
  "sin",
  "cos",
  "tan",
  "log",
  "ln",
  "exp",
  "abs",
  "arcsin",
  "arccos",
  "arctan",
]);

/** Raw text of a braced group ({cm} -> "cm"), for \text and friends. */
export function rawGroup(p: Parser): string {
  if (!p.isOp("{")) {
    const t = p.next();
    return t.text;
  }
  p.next();
  let depth = 1;
  let out = "";
  for (;;) {
    const t = p.next();
    if (t.kind === "eof") throw new ParseError("unclosed brace");
    if (t.kind === "op" && t.text === "{") depth++;
    if (t.kind === "op" && t.text === "}" && --depth === 0) return out.trim();
    const prefix = t.space && out.length > 0 ? " " : "";
    out += prefix + (t.kind === "cmd" ? `\\${t.text}` : t.kind === "begin" || t.kind === "end" ? "" : t.text);
  }
}

/** A subscript after "_": constant text ("1", "n", "37") or an expression node. */
export function parseSubscript(p: Parser): string | Node {
  const start = p.pos;
  if (p.isOp("{")) {
    const raw = rawGroup(p)
      .replace(/\\(?:text|mathrm|rm|mathit|textrm|operatorname)\s*\{([^{}]*)\}/g, "$1")
      .replace(/\\(?=[A-Za-z])/g, "")
      .replace(/\s+/g, "");
    if (/^[A-Za-z0-9]+$/.test(raw)) return raw;
    p.pos = start;
    return p.parseArg();
  }
  const t = p.next();
  if (t.kind === "num") {
    // x_12 means x_1 times 2 in LaTeX, but models mean x_{12}; keep digits together
    return t.text;
  }
  if (t.kind === "letter") return t.text;
  if (t.kind === "cmd") return t.text;
  throw new ParseError("bad subscript");
}

export function numberAtom(p: Parser): Node {
  const t = p.next();
  if (p.isOp("_") && /^\d+$/.test(t.text)) {
    p.next();
    const base = parseSubscript(p);
    if (typeof base === "string") return { type: "based", digits: t.text, base };
  }
  const inexact = /[.eE]/.test(t.text);
  const value = Rational.parseDecimal(t.text);
  return { type: "num", value, approx: value ? value.toNumber() : Number(t.text), inexact, text: t.text };
}

export function letterAtom(p: Parser): Node {
  const t = p.next();
  // function names typed without a backslash: sqrt(2), sin(x)
  const word = wordAhead(p, t.text);
  if (word) return word;
  const sym = subscripted(p, { type: "sym", name: t.text });
  if (sym.type !== "sym") return sym;
  let name = sym.name;
  while (p.isOp("'")) {
    p.next();
    name += "'";
  }
  if (FUNCTION_LETTERS.test(name) && p.isOp("(") && !p.peek().space) {
    p.next();
    const args = p.isOp(")") ? [] : p.parseCommaSeq(true);
    p.expectOp(")");
    return { type: "apply", name, args };
  }
  if (name === "e") return { type: "const", name: "e" };
  return { type: "sym", name };
}

/** Attaches a following subscript to a symbol: x_1 -> sym "x_1", F_{n-1} -> idx. */
export function subscripted(p: Parser, node: Node): Node {
  if (node.type !== "sym" || !p.isOp("_")) return node;
  p.next();
  const sub = parseSubscript(p);
  return typeof sub === "string"
    ? { type: "sym", name: `${node.name}_${sub}` }
    : { type: "idx", name: node.name, index: sub };
}

/** Recognises sqrt( / sin( ... written as letters; returns null otherwise. */
function wordAhead(p: Parser, first: string): Node | null {
  let word = first;
  let k = 0;
  while (p.peek(k).kind === "letter" && !p.peek(k).space && word.length < 7) word += p.peek(k++).text;
  for (let len = word.length; len >= 2; len--) {
    const w = word.slice(0, len);
    if (PLAIN_FUNCTIONS.has(w) && p.isOp("(", len - 1)) {
      p.pos += len - 1;
      p.next();
      const args = p.parseCommaSeq(true);
      p.expectOp(")");
      return { type: "fn", name: w === "sqrt" ? "sqrt" : w, args };
    }
  }
  return null;
}

/** ( ... ) or [ ... ] with a matching ) or ]: group, tuple or interval. */
export function delimited(p: Parser): Node {
  const open = p.next().text;
  if (p.isOp(")") || p.isOp("]")) {
    p.next();
    return { type: "tuple", items: [], paren2: false };
  }
  const items = p.parseCommaSeq(true);
  const close = p.peek();
  if (!(close.kind === "op" && (close.text === ")" || close.text === "]"))) {
    throw new ParseError(`expected ")" or "]" but found "${close.text || "end"}"`);
  }
  p.next();
  if (items.length === 1) return items[0];
  if (items.length === 2 && (open === "[" || close.text === "]")) {
    return {
      type: "interval",
      lo: items[0],
      hi: items[1],
      loOpen: open === "(",
      hiOpen: close.text === ")",
    };
  }
  return { type: "tuple", items, paren2: items.length === 2 };
}

/** |x| or \| x \| style delimiters, mapped to a function. */
export function bars(p: Parser, closer: string, fn: string): Node {
  p.next();
  p.absDepth++;
  const inner = p.parseAdditive();
  p.absDepth--;
  const t = p.next();
  if (!((t.kind === "op" || t.kind === "cmd") && t.text === closer))
    throw new ParseError(`expected "${closer}"`);
  return { type: "fn", name: fn, args: [inner] };
}
