/**
 * Recursive-descent parser from normalised LaTeX to the verifier's tree (ast.ts).
 * Precedence, loosest first: ";" groups, "," lists, relations, ratios (a:b),
 * set operations (\cup), sums (+ - \pm), products (explicit and implicit),
 * unary signs, powers, postfix (! % '), primaries. Delimiters decide structure:
 * (a, b) tuple, [a, b) interval, \{a, b\} set, |x| absolute value.
 */
import type { Node, RelOp } from "./ast.ts";
import { ParseError, type Token, tokenize } from "./lexer.ts";
import { bars, delimited, letterAtom, numberAtom, subscripted } from "./parser-atoms.ts";
import { primaryCommand } from "./parser-commands.ts";

export { ParseError };

/** Deepest nesting accepted; deeper input (e.g. 10,000 nested braces) is a parse error, not a stack overflow. */
export const MAX_DEPTH = 200;

const REL_CMDS: Record<string, RelOp> = {
  le: "<=",
  leq: "<=",
  leqslant: "<=",
  ge: ">=",
  geq: ">=",
  geqslant: ">=",
  lt: "<",
  gt: ">",
  ne: "!=",
  neq: "!=",
  approx: "~",
  simeq: "~",
  sim: "~",
  equiv: "=",
  cong: "=",
  in: "in",
  notin: "notin",
  subset: "subset",
  subseteq: "subset",
};
const REL_OPS: Record<string, RelOp> = { "=": "=", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "!=": "!=" };

/** Commands that never start an operand (so they stop implicit multiplication). */
const NON_OPERAND_CMDS = new Set([
  ...Object.keys(REL_CMDS),
  "cdot",
  "times",
  "div",
  "ast",
  "pm",
  "mp",
  "cup",
  "cap",
  "setminus",
  "rangle",
  "rfloor",
  "rceil",
  "rvert",
  "}",
  "\\",
  "right",
  "land",
  "lor",
  "wedge",
  "vee",
  "colon",
]);

/** Parses one normalised answer. Throws ParseError when it is not math. */
export function parseMath(src: string): Node {
  const p = new Parser(tokenize(src));
  const node = p.parseTop();
  if (p.peek().kind !== "eof") throw new ParseError(`unexpected "${p.peek().text}"`);
  return node;
}

export class Parser {
  pos = 0;
  depth = 0;
  absDepth = 0;

  constructor(readonly tokens: Token[]) {}

  peek(k = 0): Token {
    return this.tokens[Math.min(this.pos + k, this.tokens.length - 1)];
  }
  next(): Token {
    const t = this.peek();
    if (this.pos < this.tokens.length - 1) this.pos++;
    return t;
  }
  isOp(text: string, k = 0): boolean {
    const t = this.peek(k);
    return t.kind === "op" && t.text === text;
  }
  isCmd(text: string, k = 0): boolean {
    const t = this.peek(k);
    return t.kind === "cmd" && t.text === text;
  }
  expectOp(text: string): void {
    if (!this.isOp(text)) throw new ParseError(`expected "${text}" but found "${this.peek().text || "end"}"`);
    this.next();
  }
  enter(): void {
    if (++this.depth > MAX_DEPTH) throw new ParseError("nesting too deep");
  }
  leave(): void {
    this.depth--;
  }

  /** Top level: ";"-separated groups of ","-separated items. */
  parseTop(): Node {
    const groups: Node[][] = [this.parseCommaSeq(false)];
    while (this.isOp(";")) {
      this.next();
      if (this.peek().kind === "eof") break;
      groups.push(this.parseCommaSeq(false));
    }
    if (groups.length === 1)
      return groups[0].length === 1 ? groups[0][0] : { type: "list", items: groups[0] };
    return { type: "list", items: groups.map((g) => (g.length === 1 ? g[0] : { type: "list", items: g })) };
  }

  /** Items separated by "," (and by ";" when `semicolons`), stopping before a closer. */
  parseCommaSeq(semicolons: boolean): Node[] {
    const items: Node[] = [this.parseRel()];
    while (this.isOp(",") || (semicolons && this.isOp(";"))) {
      this.next();
      const t = this.peek();
      if (t.kind === "eof" || (t.kind === "op" && (t.text === ")" || t.text === "]" || t.text === "}")))
        break;
      if (t.kind === "cmd" && t.text === "}") break;
      items.push(this.parseRel());
    }
    return items;
  }

  relOp(): RelOp | null {
    const t = this.peek();
    if (t.kind === "op") return REL_OPS[t.text] ?? null;
    if (t.kind === "cmd") return REL_CMDS[t.text] ?? null;
    return null;
  }

  parseRel(): Node {
    this.enter();
    const items: Node[] = [this.parseRatio()];
    const ops: RelOp[] = [];
    for (let op = this.relOp(); op !== null; op = this.relOp()) {
      this.next();
      ops.push(op);
      items.push(this.parseRatio());
    }
    this.leave();
    return ops.length === 0 ? items[0] : { type: "rel", items, ops };
  }

  parseRatio(): Node {
    const items: Node[] = [this.parseSetOp()];
    while ((this.isOp(":") && !this.isOp("=", 1)) || this.isCmd("colon")) {
      this.next();
      items.push(this.parseSetOp());
    }
    if (this.isOp(":") && this.isOp("=", 1)) this.next(); // ":=" reads as "="
    return items.length === 1 ? items[0] : { type: "ratio", items };
  }

  parseSetOp(): Node {
    let left = this.parseAdditive();
    for (;;) {
      if (this.isCmd("cup")) {
        this.next();
        const right = this.parseAdditive();
        const parts = [left, right].flatMap((p) => (p.type === "union" ? p.parts : [p]));
        left = { type: "union", parts };
      } else if (this.isCmd("cap") || this.isCmd("setminus")) {
        const name = this.next().text;
        left = { type: "fn", name, args: [left, this.parseAdditive()] };
      } else return left;
    }
  }

  parseAdditive(): Node {
    this.enter();
    let terms: Node[] = [this.parseTerm()];
    for (;;) {
      if (this.isOp("+")) {
        this.next();
        terms.push(this.parseTerm());
      } else if (this.isOp("-")) {
        this.next();
        terms.push({ type: "neg", arg: this.parseTerm() });
      } else if (this.isCmd("pm") || this.isCmd("mp")) {
        const minusFirst = this.next().text === "mp";
        const left = terms.length === 1 ? terms[0] : ({ type: "add", terms } as Node);
        terms = [{ type: "pm", left, right: this.parseTerm(), minusFirst }];
      } else break;
    }
    this.leave();
    return terms.length === 1 ? terms[0] : { type: "add", terms };
  }

  /** Whether the next token can begin an operand (for implicit multiplication). */
  startsOperand(): boolean {
    const t = this.peek();
    switch (t.kind) {
      case "num":
      case "letter":
      case "begin":
        return true;
      case "cmd":
        return !NON_OPERAND_CMDS.has(t.text) && !(t.text === "|" && this.absDepth > 0);
      case "op":
        return t.text === "(" || t.text === "[" || t.text === "{" || (t.text === "|" && this.absDepth === 0);
      default:
        return false;
    }
  }

  parseTerm(): Node {
    this.enter();
    let factors: Node[] = [this.parseUnary()];
    for (;;) {
      if (this.isOp("*") || this.isCmd("cdot") || this.isCmd("times") || this.isCmd("ast")) {
        this.next();
        factors.push(this.parseUnary());
      } else if (this.isOp("/") || this.isCmd("div")) {
        this.next();
        const left: Node = factors.length === 1 ? factors[0] : { type: "mul", factors };
        factors = [{ type: "div", num: left, den: this.parseUnary() }];
      } else if (this.startsOperand()) {
        const f = this.parsePower();
        const mixed = factors.length === 1 ? mixedNumber(factors[0], f) : null;
        if (mixed) factors[0] = mixed;
        else factors.push(f);
      } else break;
    }
    this.leave();
    return factors.length === 1 ? factors[0] : { type: "mul", factors };
  }

  parseUnary(): Node {
    this.enter();
    let node: Node;
    if (this.isOp("-")) {
      this.next();
      node = { type: "neg", arg: this.parseUnary() };
    } else if (this.isOp("+")) {
      this.next();
      node = this.parseUnary();
    } else if (this.isCmd("pm") || this.isCmd("mp")) {
      const minusFirst = this.next().text === "mp";
      node = { type: "pm", left: null, right: this.parseUnary(), minusFirst };
    } else node = this.parsePower();
    this.leave();
    return node;
  }

  parsePower(): Node {
    this.enter();
    let node = this.parsePostfix();
    if (this.isOp("^")) {
      this.next();
      node = { type: "pow", base: node, exp: this.parseExponent() };
      node = this.parsePostfixOps(node);
    }
    this.leave();
    return node;
  }

  /** An exponent: a braced group or one token, right-associative (10^10^10 = 10^(10^10)). */
  parseExponent(): Node {
    this.enter();
    let exp: Node;
    if (this.isOp("-")) {
      this.next();
      exp = { type: "neg", arg: this.parseExponent() };
    } else if (this.isOp("{")) exp = this.parseArg();
    else exp = this.parsePostfix();
    if (this.isOp("^")) {
      this.next();
      exp = { type: "pow", base: exp, exp: this.parseExponent() };
    }
    this.leave();
    return exp;
  }

  parsePostfix(): Node {
    return this.parsePostfixOps(this.parsePrimary());
  }

  parsePostfixOps(start: Node): Node {
    let node = start;
    for (;;) {
      if (this.isOp("!")) {
        this.next();
        node = { type: "fn", name: "factorial", args: [node] };
      } else if (this.isOp("%")) {
        this.next();
        node = { type: "percent", arg: node };
      } else if (this.isOp("_") && node.type === "sym") {
        node = subscripted(this, node);
      } else if (this.isOp("'") && node.type === "sym") {
        this.next();
        node = { type: "sym", name: `${node.name}'` };
      } else return node;
    }
  }

  /** A command argument: a braced group, or a single token (\frac12 reads as \frac{1}{2}). */
  parseArg(): Node {
    const t = this.peek();
    if (t.kind === "op" && t.text === "{") {
      this.next();
      this.enter();
      if (this.isOp("}")) throw new ParseError("empty argument");
      const items = this.parseCommaSeq(true);
      this.expectOp("}");
      this.leave();
      return items.length === 1 ? items[0] : { type: "set", items };
    }
    if (t.kind === "num" && t.text.length > 1 && /^\d/.test(t.text)) {
      // split "12" into "1" and "2"
      this.tokens.splice(
        this.pos,
        1,
        { ...t, text: t.text[0] },
        { ...t, text: t.text.slice(1), space: false },
      );
    }
    return this.parsePrimary();
  }

  parsePrimary(): Node {
    this.enter();
    try {
      return this.primary();
    } finally {
      this.leave();
    }
  }

  private primary(): Node {
    const t = this.peek();
    switch (t.kind) {
      case "num":
        return numberAtom(this);
      case "letter":
        return letterAtom(this);
      case "cmd":
      case "begin":
        return primaryCommand(this);
      case "op":
        if (t.text === "(" || t.text === "[") return delimited(this);
        if (t.text === "{") {
          this.next();
          if (this.isOp("}")) {
            this.next();
            return { type: "set", items: [] };
          }
          const items = this.parseCommaSeq(true);
          this.expectOp("}");
          return items.length === 1 ? items[0] : { type: "set", items };
        }
        if (t.text === "|") return bars(this, "|", "abs");
        break;
    }
    throw new ParseError(`unexpected "${t.text || "end of input"}"`);
  }
}

function isIntLiteral(n: Node): boolean {
  return n.type === "num" && !n.inexact && n.value?.isInteger() === true && n.value.sign() >= 0;
}

/** "2\frac{1}{2}" is the mixed number 2 1/2 (= 5/2), not a product; also "-2\frac{1}{2}". */
function mixedNumber(whole: Node, next: Node): Node | null {
  if (next.type !== "div" || !isIntLiteral(next.num) || !isIntLiteral(next.den)) return null;
  if (isIntLiteral(whole)) return { type: "add", terms: [whole, next] };
  if (whole.type === "neg" && isIntLiteral(whole.arg))
    return { type: "neg", arg: { type: "add", terms: [whole.arg, next] } };
  return null;
}
