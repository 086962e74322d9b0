/**
 * The LaTeX commands the parser understands in operand position: fractions,
 * roots, functions, text, sets, floors, sums, matrices, Greek letters.
 * Unknown commands read as symbols named after the command.
 */
import type { Node } from "./ast.ts";
import { ParseError } from "./lexer.ts";
import type { Parser } from "./parser.ts";
import { bars, rawGroup } from "./parser-atoms.ts";

const GREEK = new Set(
  (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi omicron rho " +
    "varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega " +
    "ell hbar aleph"
  ).split(" "),
);

/** Functions written as commands; the value is the canonical name. */
const FUNCTIONS: Record<string, string> = {
  sin: "sin",
  cos: "cos",
  tan: "tan",
  sec: "sec",
  csc: "csc",
  cot: "cot",
  arcsin: "asin",
  arccos: "acos",
  arctan: "atan",
  sinh: "sinh",
  cosh: "cosh",
  tanh: "tanh",
  ln: "ln",
  log: "log",
  lg: "log10",
  exp: "exp",
  max: "max",
  min: "min",
  gcd: "gcd",
  lcm: "lcm",
  det: "det",
  arg: "arg",
};
const INVERSE: Record<string, string> = { sin: "asin", cos: "acos", tan: "atan" };

const TEXT_CMDS = new Set([
  "text",
  "textnormal",
  "textrm",
  "textbf",
  "textit",
  "textup",
  "textsf",
  "mbox",
  "hbox",
]);
const STYLE_CMDS = new Set([
  "mathrm",
  "mathit",
  "mathbf",
  "mathsf",
  "mathtt",
  "boldsymbol",
  "bm",
  "mathnormal",
]);
const ACCENTS = new Set([
  "overline",
  "bar",
  "vec",
  "hat",
  "widehat",
  "tilde",
  "widetilde",
  "overrightarrow",
  "dot",
]);
const SKIP = new Set([
  "angle",
  "measuredangle",
  "triangle",
  "square",
  "cdotp",
  "quad",
  "qquad",
  ",",
  ";",
  ":",
  " ",
  "!",
]);
const MATRIX_ENVS = new Set([
  "matrix",
  "pmatrix",
  "bmatrix",
  "Bmatrix",
  "vmatrix",
  "Vmatrix",
  "smallmatrix",
  "array",
]);

/** Normalises a letter choice written as text: "(C)" -> "C". */
function textNode(raw: string): Node {
  const v = raw.trim();
  const choice = /^\(?\s*([A-Ea-e])\s*\)$/.exec(v);
  return { type: "text", value: choice ? choice[1] : v };
}

/** Reads the operand of \sin, \log etc.: a parenthesised list, or a short implicit product (\sin 2x). */
function functionArgs(p: Parser): Node[] {
  if (p.isOp("{")) return [p.parseArg()];
  if (p.isOp("(")) {
    p.next();
    const args = p.parseCommaSeq(true);
    p.expectOp(")");
    return args;
  }
  const factors: Node[] = [p.parsePower()];
  while (p.peek().kind === "letter" || p.peek().kind === "num") factors.push(p.parsePower());
  return [factors.length === 1 ? factors[0] : { type: "mul", factors }];
}

function matrix(p: Parser, env: string): Node {
  if (env === "array" && p.isOp("{")) rawGroup(p); // column spec
  const rows: Node[][] = [];
  let row: Node[] = [];
  for (;;) {
    const t = p.peek();
    if (t.kind === "end") {
      p.next();
      if (row.length > 0) rows.push(row);
      break;
    }
    if (t.kind === "eof") throw new ParseError(`unclosed ${env}`);
    if (t.kind === "cmd" && (t.text === "hline" || t.text === "cline")) {
      p.next();
      if (t.text === "cline") rawGroup(p);
      continue;
    }
    row.push(p.parseRel());
    const sep = p.peek();
    if (sep.kind === "op" && sep.text === "&") p.next();
    else if (sep.kind === "cmd" && sep.text === "\\") {
      p.next();
      rows.push(row);
      row = [];
    } else if (sep.kind !== "end") throw new ParseError(`unexpected "${sep.text}" in ${env}`);
  }
  const width = rows[0]?.length ?? 0;
  if (width === 0 || rows.some((r) => r.length !== width)) throw new ParseError("ragged matrix");
  return { type: "matrix", rows };
}

/** Collects tokens up to `closer` (a command name) as one additive expression. */
function until(p: Parser, closer: string): Node {
  const inner = p.parseAdditive();
  const t = p.next();
  if (!(t.kind === "cmd" && t.text === closer)) throw new ParseError(`expected \\${closer}`);
  return inner;
}

/**
 * Parses the command at the parser's position (a `cmd` or `begin` token). Long by nature: one
 * switch over the LaTeX commands the parser knows, each case a few lines.
 */
export function primaryCommand(p: Parser): Node {
  const t = p.next();
  if (t.kind === "begin") {
    if (MATRIX_ENVS.has(t.text)) return matrix(p, t.text);
    throw new ParseError(`unsupported environment ${t.text}`);
  }
  const name = t.text;
  if (name === "frac") return { type: "div", num: p.parseArg(), den: p.parseArg() };
  if (name === "binom") return { type: "fn", name: "binom", args: [p.parseArg(), p.parseArg()] };
  if (name === "sqrt") {
    let index: Node | null = null;
    if (p.isOp("[")) {
      p.next();
      index = p.parseAdditive();
      p.expectOp("]");
    }
    const arg = p.parseArg();
    return { type: "fn", name: "sqrt", args: index ? [arg, index] : [arg] };
  }
  if (name === "pi") return { type: "const", name: "pi" };
  if (name === "infty" || name === "infin") return { type: "const", name: "inf" };
  if (name === "emptyset" || name === "varnothing") return { type: "set", items: [] };
  if (name === "ldots") return { type: "sym", name: "…" };
  if (GREEK.has(name)) return { type: "sym", name };
  if (TEXT_CMDS.has(name)) return textNode(rawGroup(p));
  if (STYLE_CMDS.has(name) || name === "operatorname") {
    const raw = rawGroup(p);
    const fn = FUNCTIONS[raw];
    if (fn) return { type: "fn", name: fn, args: functionArgs(p) };
    if (raw === "e") return { type: "const", name: "e" };
    if (/^[A-Za-z]$/.test(raw)) return { type: "sym", name: raw };
    if (name === "operatorname") return { type: "apply", name: raw, args: functionArgs(p) };
    return textNode(raw);
  }
  if (name === "mathbb") return { type: "sym", name: `mathbb_${rawGroup(p)}` };
  if (ACCENTS.has(name)) return { type: "sym", name: `${name}_${rawGroup(p).replace(/\s+/g, "")}` };
  if (SKIP.has(name)) return p.parsePrimary();
  if (FUNCTIONS[name]) {
    let fn = FUNCTIONS[name];
    let power: Node | null = null;
    let base: Node | null = null;
    for (;;) {
      if (p.isOp("^")) {
        p.next();
        power = p.parseExponent();
      } else if (p.isOp("_")) {
        p.next();
        base = p.parseArg();
      } else break;
    }
    if (
      power &&
      INVERSE[name] &&
      power.type === "neg" &&
      power.arg.type === "num" &&
      power.arg.text === "1"
    ) {
      fn = INVERSE[name];
      power = null;
    }
    const args = functionArgs(p);
    if (base) args.push(base);
    const call: Node = { type: "fn", name: fn, args };
    return power ? { type: "pow", base: call, exp: power } : call;
  }
  if (name === "{") {
    if (p.isCmd("}")) {
      p.next();
      return { type: "set", items: [] };
    }
    const items = p.parseCommaSeq(true);
    const close = p.next();
    if (!(close.kind === "cmd" && close.text === "}")) throw new ParseError("expected \\}");
    return { type: "set", items };
  }
  if (name === "langle") {
    const items = p.parseCommaSeq(true);
    const close = p.next();
    if (!(close.kind === "cmd" && close.text === "rangle")) throw new ParseError("expected \\rangle");
    return items.length === 1 ? items[0] : { type: "tuple", items, paren2: false };
  }
  if (name === "lfloor") return { type: "fn", name: "floor", args: [until(p, "rfloor")] };
  if (name === "lceil") return { type: "fn", name: "ceil", args: [until(p, "rceil")] };
  if (name === "lvert" || name === "vert")
    return { type: "fn", name: "abs", args: [until(p, name === "lvert" ? "rvert" : "vert")] };
  if (name === "|") {
    p.pos--;
    return bars(p, "|", "abs");
  }
  if (name === "sum" || name === "prod") return bigOperator(p, name);
  if (name === "%") throw new ParseError("stray percent");
  if (name.length === 1 && !/[a-zA-Z]/.test(name)) throw new ParseError(`unexpected \\${name}`);
  // Unknown command: a symbol named after it.
  return { type: "sym", name };
}

function bigOperator(p: Parser, op: "sum" | "prod"): Node {
  let lo: Node | null = null;
  let hi: Node | null = null;
  let variable = "";
  for (let k = 0; k < 2; k++) {
    if (p.isOp("_")) {
      p.next();
      const low = p.parseArg();
      if (low.type !== "rel" || low.ops[0] !== "=" || low.items[0].type !== "sym")
        throw new ParseError("sum bounds");
      variable = low.items[0].name;
      lo = low.items[1];
    } else if (p.isOp("^")) {
      p.next();
      hi = p.parseArg();
    }
  }
  if (!lo || !hi) throw new ParseError(`\\${op} without bounds`);
  return { type: "bigop", op, variable, lo, hi, body: p.parseTerm() };
}
