/**
 * Evaluation of scalar expressions: exactly, as rationals, when the expression
 * is a rational constant; otherwise as doubles at a given assignment of the
 * free symbols. Undefined functions (f(x)) and indexed symbols (F_{n-1}) get a
 * fixed pseudo-random function of their arguments, so f(x) = f(x) holds and
 * f(x) = f(y) does not.
 */
import type { Node } from "./ast.ts";
import type { Budget } from "./budget.ts";
import { Rational } from "./rational.ts";

/** Values of the free symbols (names as in ast.freeSymbols, without the "()"/"[]" suffixes). */
export type Env = ReadonlyMap<string, number>;

const NO_ENV: Env = new Map();

function factorialExact(n: bigint): Rational | null {
  if (n < 0n || n > 3000n) return null;
  let r = 1n;
  for (let k = 2n; k <= n; k++) r *= k;
  return Rational.of(r);
}

function binomExact(n: bigint, k: bigint): Rational | null {
  if (k < 0n || n < 0n || k > n) return n >= 0n ? Rational.ZERO : null;
  if (k > n - k) k = n - k;
  if (k > 5000n) return null;
  let r = 1n;
  for (let i = 1n; i <= k; i++) r = (r * (n - k + i)) / i;
  return Rational.of(r);
}

function gcdBig(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Exact value of a constant expression, or null (symbols, irrationals, oversized results). */
export function exactValue(n: Node, budget?: Budget): Rational | null {
  budget?.check();
  switch (n.type) {
    case "num":
      return n.value;
    case "add": {
      let acc: Rational | null = Rational.ZERO;
      for (const t of n.terms) {
        const v = exactValue(t, budget);
        if (!v || !acc) return null;
        acc = acc.add(v);
      }
      return acc;
    }
    case "mul": {
      let acc: Rational | null = Rational.ONE;
      for (const f of n.factors) {
        const v = exactValue(f, budget);
        if (!v || !acc) return null;
        acc = acc.mul(v);
      }
      return acc;
    }
    case "neg":
      return exactValue(n.arg, budget)?.neg() ?? null;
    case "div": {
      const a = exactValue(n.num, budget);
      const b = a && exactValue(n.den, budget);
      return a && b ? a.div(b) : null;
    }
    case "ratio":
      if (n.items.length !== 2) return null;
      return exactValue({ type: "div", num: n.items[0], den: n.items[1] }, budget);
    case "percent":
      return exactValue(n.arg, budget)?.div(Rational.int(100)) ?? null;
    case "pow": {
      const b = exactValue(n.base, budget);
      const e = b && exactValue(n.exp, budget);
      if (!b || !e) return null;
      if (e.isInteger()) return b.pow(e.num);
      if (e.den > 64n || e.num > 4096n || e.num < -4096n) return null;
      const r = b.root(Number(e.den));
      return r ? r.pow(e.num) : null;
    }
    case "fn":
      return exactFunction(n.name, n.args, budget);
    default:
      return null;
  }
}

function exactFunction(name: string, args: Node[], budget?: Budget): Rational | null {
  const vals = args.map((a) => exactValue(a, budget));
  const [a, b] = vals;
  if (vals.some((v) => v === null) || !a) return null;
  switch (name) {
    case "sqrt": {
      const k = b ? (b.isInteger() ? Number(b.num) : Number.NaN) : 2;
      return Number.isInteger(k) ? a.root(k) : null;
    }
    case "abs":
      return a.abs();
    case "floor":
      return Rational.of(a.num / a.den - (a.num < 0n && a.num % a.den !== 0n ? 1n : 0n));
    case "ceil":
      return Rational.of(a.num / a.den + (a.num > 0n && a.num % a.den !== 0n ? 1n : 0n));
    case "factorial":
      return a.isInteger() ? factorialExact(a.num) : null;
    case "binom":
      return b && a.isInteger() && b.isInteger() ? binomExact(a.num, b.num) : null;
    case "gcd":
    case "lcm": {
      if (!vals.every((v) => v?.isInteger())) return null;
      let acc = (vals[0] as Rational).num;
      for (const v of vals.slice(1)) {
        const x = (v as Rational).num;
        acc = name === "gcd" ? gcdBig(acc, x) : acc === 0n || x === 0n ? 0n : (acc * x) / gcdBig(acc, x);
      }
      return Rational.of(acc < 0n ? -acc : acc);
    }
    case "max":
    case "min": {
      let best = a;
      for (const v of vals as Rational[]) if (name === "max" ? v.cmp(best) > 0 : v.cmp(best) < 0) best = v;
      return best;
    }
    default:
      return null;
  }
}

/** FNV-1a hash of a string, as a 32-bit unsigned integer. */
function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** A fixed smooth pseudo-random function for an undefined function name. */
function opaque(name: string, args: number[]): number {
  const h = hash(name);
  let acc = ((h % 1000) / 1000) * 2 - 1;
  args.forEach((x, i) => {
    const k1 = 0.7 + (((h >>> (i + 3)) % 97) / 97) * 1.3;
    const k2 = ((h >>> (i + 11)) % 89) / 89;
    acc += Math.sin(k1 * x + k2 + i) * (1.5 + i) + 0.31 * x;
  });
  return acc;
}

function factorialFloat(x: number): number {
  if (!Number.isInteger(x) || x < 0) return Number.NaN;
  if (x > 170) return Number.POSITIVE_INFINITY;
  let r = 1;
  for (let k = 2; k <= x; k++) r *= k;
  return r;
}

/** Real power that also takes odd roots of negative numbers: (-8)^(1/3) = -2. */
function realPow(base: number, expNode: Node, exp: number, budget?: Budget): number {
  const direct = base ** exp;
  if (!Number.isNaN(direct) || base >= 0) return direct;
  const e = exactValue(expNode, budget);
  if (e && e.den % 2n === 1n) {
    const mag = Math.abs(base) ** exp;
    return e.num % 2n === 0n ? mag : -mag;
  }
  return Number.NaN;
}

/** Value of a scalar expression as a double at `env` (NaN when undefined or not a scalar). */
export function numericValue(n: Node, env: Env = NO_ENV, budget?: Budget): number {
  budget?.check();
  const ev = (m: Node) => numericValue(m, env, budget);
  switch (n.type) {
    case "num":
      return n.approx;
    case "sym": {
      const v = env.get(n.name);
      if (v !== undefined) return v;
      const sub = /^(.+)_([A-Za-z])$/.exec(n.name);
      const k = sub ? env.get(sub[2]) : undefined;
      return sub && k !== undefined ? opaque(`${sub[1]}[]`, [k]) : Number.NaN;
    }
    case "const":
      return n.name === "pi" ? Math.PI : n.name === "e" ? Math.E : Number.POSITIVE_INFINITY;
    case "add":
      return n.terms.reduce((s, t) => s + ev(t), 0);
    case "mul":
      return n.factors.reduce((s, t) => s * ev(t), 1);
    case "neg":
      return -ev(n.arg);
    case "div":
      return ev(n.num) / ev(n.den);
    case "ratio":
      return n.items.length === 2 ? ev(n.items[0]) / ev(n.items[1]) : Number.NaN;
    case "percent":
      return ev(n.arg) / 100;
    case "pow":
      return realPow(ev(n.base), n.exp, ev(n.exp), budget);
    case "fn":
      return numericFunction(n.name, n.args.map(ev));
    case "apply":
      return opaque(n.name, n.args.map(ev));
    case "idx":
      return opaque(`${n.name}[]`, [Math.round(ev(n.index) * 1e9) / 1e9]);
    case "bigop": {
      const lo = ev(n.lo);
      const hi = ev(n.hi);
      if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi - lo > 10_000) return Number.NaN;
      let acc = n.op === "sum" ? 0 : 1;
      const inner = new Map(env);
      for (let k = lo; k <= hi; k++) {
        inner.set(n.variable, k);
        const v = numericValue(n.body, inner, budget);
        acc = n.op === "sum" ? acc + v : acc * v;
      }
      return acc;
    }
    case "based": {
      const base = Number(n.base);
      if (!Number.isInteger(base) || base < 2 || base > 36) return Number.NaN;
      const v = Number.parseInt(n.digits, base);
      return Number.isNaN(v) || v.toString(base) !== n.digits.replace(/^0+(?=.)/, "") ? Number.NaN : v;
    }
    default:
      return Number.NaN;
  }
}

function numericFunction(name: string, a: number[]): number {
  const [x, y] = a;
  switch (name) {
    case "sin":
      return Math.sin(x);
    case "cos":
      return Math.cos(x);
    case "tan":
      return Math.tan(x);
    case "sec":
      return 1 / Math.cos(x);
    case "csc":
      return 1 / Math.sin(x);
    case "cot":
      return 1 / Math.tan(x);
    case "asin":
    case "arcsin":
      return Math.asin(x);
    case "acos":
    case "arccos":
      return Math.acos(x);
    case "atan":
    case "arctan":
      return Math.atan(x);
    case "sinh":
      return Math.sinh(x);
    case "cosh":
      return Math.cosh(x);
    case "tanh":
      return Math.tanh(x);
    case "ln":
      return Math.log(x);
    case "log":
      return a.length > 1 ? Math.log(x) / Math.log(y) : Math.log(x);
    case "log10":
      return Math.log10(x);
    case "exp":
      return Math.exp(x);
    case "sqrt": {
      if (a.length === 1) return Math.sqrt(x);
      if (Number.isInteger(y) && y % 2 === 1 && x < 0) return -((-x) ** (1 / y));
      return x ** (1 / y);
    }
    case "abs":
      return Math.abs(x);
    case "floor":
      return Math.floor(x);
    case "ceil":
      return Math.ceil(x);
    case "factorial":
      return factorialFloat(x);
    case "binom":
      return Number.isInteger(x) && Number.isInteger(y)
        ? factorialFloat(x) / (factorialFloat(y) * factorialFloat(x - y))
        : Number.NaN;
    case "max":
      return Math.max(...a);
    case "min":
      return Math.min(...a);
    default:
      return Number.NaN;
  }
}
