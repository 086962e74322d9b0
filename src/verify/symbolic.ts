/**
 * The symbolic leaves of the verifier: @cortex-js/compute-engine decides
 * whether gold - prediction simplifies to 0, for scalar expressions that the
 * evaluation at sample points could not decide (e.g. both undefined at every
 * sample). Only scalar expression trees are handed over; structure (lists,
 * intervals, relations) never reaches the engine.
 */
import { ComputeEngine } from "@cortex-js/compute-engine";
import type { Node } from "./ast.ts";

type Json = string | number | { num: string } | Json[];

let engine: ComputeEngine | null = null;
function ce(): ComputeEngine {
  engine ??= new ComputeEngine();
  return engine;
}

const FN: Record<string, string> = {
  sin: "Sin",
  cos: "Cos",
  tan: "Tan",
  sec: "Sec",
  csc: "Csc",
  cot: "Cot",
  asin: "Arcsin",
  acos: "Arccos",
  atan: "Arctan",
  sinh: "Sinh",
  cosh: "Cosh",
  tanh: "Tanh",
  ln: "Ln",
  exp: "Exp",
  abs: "Abs",
  floor: "Floor",
  ceil: "Ceil",
  factorial: "Factorial",
  binom: "Binomial",
};

/** Our tree as MathJSON, or null when it holds something the engine should not see. */
export function toMathJson(n: Node): Json | null {
  const all = (xs: Node[]): Json[] | null => {
    const out: Json[] = [];
    for (const x of xs) {
      const j = toMathJson(x);
      if (j === null) return null;
      out.push(j);
    }
    return out;
  };
  switch (n.type) {
    case "num":
      if (n.inexact || !n.value) return { num: n.text };
      return n.value.isInteger()
        ? { num: n.value.num.toString() }
        : ["Divide", { num: n.value.num.toString() }, { num: n.value.den.toString() }];
    case "sym":
      return `v_${n.name.replace(/[^A-Za-z0-9]/g, "_")}`;
    case "const":
      return n.name === "pi" ? "Pi" : n.name === "e" ? "ExponentialE" : "PositiveInfinity";
    case "add": {
      const xs = all(n.terms);
      return xs && ["Add", ...xs];
    }
    case "mul": {
      const xs = all(n.factors);
      return xs && ["Multiply", ...xs];
    }
    case "neg": {
      const x = toMathJson(n.arg);
      return x === null ? null : ["Negate", x];
    }
    case "div":
    case "pow": {
      const xs = all(n.type === "div" ? [n.num, n.den] : [n.base, n.exp]);
      return xs && [n.type === "div" ? "Divide" : "Power", ...xs];
    }
    case "percent": {
      const x = toMathJson(n.arg);
      return x === null ? null : ["Divide", x, 100];
    }
    case "fn": {
      const xs = all(n.args);
      if (!xs) return null;
      if (n.name === "sqrt") return xs.length === 1 ? ["Sqrt", xs[0]] : ["Root", xs[0], xs[1]];
      if (n.name === "log") return xs.length === 1 ? ["Ln", xs[0]] : ["Log", xs[0], xs[1]];
      const name = FN[n.name];
      return name ? [name, ...xs] : null;
    }
    default:
      return null;
  }
}

/** True when gold - pred simplifies to 0; null when the engine cannot tell (never "false"). */
export function symbolicEqual(gold: Node, pred: Node): boolean | null {
  const a = toMathJson(gold);
  const b = toMathJson(pred);
  if (a === null || b === null) return null;
  try {
    const diff = ce().box(["Subtract", a, b] as never);
    if (diff.simplify().is(0)) return true;
    if (diff.expand().simplify().is(0)) return true;
  } catch {
    return null;
  }
  return null;
}
