/**
 * Worked solutions of the arithmetic task: an expression of non-negative
 * integers joined by + - * is solved one binary operation per step, the usual
 * way (multiplications first, left to right, then additions and subtractions
 * left to right), and written as a reasoning trace:
 *
 *   <think>
 *   37+48=85
 *   85-15=70
 *   </think>
 *   \boxed{70}
 *
 * A slip adds a small error to one step's result; the steps after it are then
 * computed correctly from the wrong value, as a person who slipped once would.
 */

/** The operators of the task. */
export type ArithmeticOp = "+" | "-" | "*";

/** One step of a worked solution: `left op right = result`. */
export interface ArithmeticStep {
  left: number;
  op: ArithmeticOp;
  right: number;
  result: number;
}

/** An arithmetic slip: `delta` (non-zero) added to the result of step `step` (0-based). */
export interface Slip {
  step: number;
  delta: number;
}

/** What the chat template's generation prompt already wrote: the completion starts after it. */
export const THINK_OPEN = "<think>\n";

/** Between the reasoning and the answer. */
export const THINK_CLOSE = "\n</think>\n";

/** The expression as written in the problem and the steps: "37+48-15" (no spaces). */
export function expressionText(operands: readonly number[], ops: readonly ArithmeticOp[]): string {
  checkShape(operands, ops);
  let text = String(operands[0]);
  for (let i = 0; i < ops.length; i++) text += ops[i] + String(operands[i + 1]);
  return text;
}

function apply(left: number, op: ArithmeticOp, right: number): number {
  return op === "+" ? left + right : op === "-" ? left - right : left * right;
}

function checkShape(operands: readonly number[], ops: readonly ArithmeticOp[]): void {
  if (operands.length < 1 || ops.length !== operands.length - 1)
    throw new Error(
      `arithmetic: ${operands.length} operands need ${operands.length - 1} operators, got ${ops.length}`,
    );
}

/**
 * The steps solving the expression (operands.length - 1 of them), multiplications first. With a slip,
 * that step's result is off by `delta` and every later step uses the wrong value.
 */
export function solveSteps(
  operands: readonly number[],
  ops: readonly ArithmeticOp[],
  slip?: Slip,
): ArithmeticStep[] {
  checkShape(operands, ops);
  const steps: ArithmeticStep[] = [];
  const step = (left: number, op: ArithmeticOp, right: number): number => {
    let result = apply(left, op, right);
    if (slip && slip.step === steps.length) result += slip.delta;
    steps.push({ left, op, right, result });
    return result;
  };
  // Multiplications first: fold each run of "*" into one term.
  const terms: number[] = [operands[0]];
  const signs: ArithmeticOp[] = [];
  for (let i = 0; i < ops.length; i++) {
    const right = operands[i + 1];
    if (ops[i] === "*") terms[terms.length - 1] = step(terms[terms.length - 1], "*", right);
    else {
      signs.push(ops[i]);
      terms.push(right);
    }
  }
  let value = terms[0];
  for (let i = 0; i < signs.length; i++) value = step(value, signs[i], terms[i + 1]);
  return steps;
}

/** The value of the expression (the last step's result; the only operand when there is no step). */
export function expressionValue(operands: readonly number[], ops: readonly ArithmeticOp[]): number {
  const steps = solveSteps(operands, ops);
  return steps.length === 0 ? operands[0] : steps[steps.length - 1].result;
}

/** A trace from its steps: "<think>\n" + one "a+b=c" line per step + "\n</think>\n\\boxed{answer}". */
export function renderTrace(steps: readonly ArithmeticStep[], answer: number): string {
  const lines = steps.map((s) => `${s.left}${s.op}${s.right}=${s.result}`);
  return `${THINK_OPEN}${lines.join("\n")}${THINK_CLOSE}\\boxed{${answer}}`;
}

/** The reference trace of an expression: every step right, ending in \boxed{value}. */
export function referenceTrace(operands: readonly number[], ops: readonly ArithmeticOp[]): string {
  const steps = solveSteps(operands, ops);
  return renderTrace(steps, steps.length === 0 ? operands[0] : steps[steps.length - 1].result);
}

/** A trace with one slip, and the (wrong) answer it ends in. */
export interface SlippedTrace {
  trace: string;
  answer: number;
  slip: Slip;
}

/** Slip sizes, drawn uniformly, then given a random sign: off by one or two, or a lost carry (10). */
const SLIP_SIZES = [1, 1, 2, 10] as const;

/**
 * A trace with exactly one arithmetic slip whose final answer is wrong. The slipped step is drawn
 * uniformly and the error from SLIP_SIZES with a random sign (flipped when it would turn a
 * non-negative result negative). If the error cancels out later (a slip in a factor multiplied by
 * 0), the slip moves to the last step, whose error always reaches the answer.
 */
export function slippedTrace(
  operands: readonly number[],
  ops: readonly ArithmeticOp[],
  rand: () => number,
): SlippedTrace {
  if (ops.length === 0) throw new Error("arithmetic: an expression without operators has no step to slip");
  const right = expressionValue(operands, ops);
  const correct = solveSteps(operands, ops);
  const pick = Math.floor(rand() * correct.length);
  let delta = SLIP_SIZES[Math.floor(rand() * SLIP_SIZES.length)] * (rand() < 0.5 ? -1 : 1);
  if (correct[pick].result >= 0 && correct[pick].result + delta < 0) delta = -delta;
  let slip: Slip = { step: pick, delta };
  let steps = solveSteps(operands, ops, slip);
  if (steps[steps.length - 1].result === right) {
    const last = correct.length - 1;
    const d = correct[last].result >= 0 && correct[last].result + delta < 0 ? -delta : delta;
    slip = { step: last, delta: d };
    steps = solveSteps(operands, ops, slip);
  }
  const answer = steps[steps.length - 1].result;
  return { trace: renderTrace(steps, answer), answer, slip };
}

/** The completion the model writes after the generation prompt: the trace without its opening "<think>\n". */
export function traceCompletion(trace: string): string {
  return trace.startsWith(THINK_OPEN) ? trace.slice(THINK_OPEN.length) : trace;
}
