import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ARITHMETIC_CHARACTERS,
  type ArithmeticProblem,
  arithmeticProblems,
  arithmeticStream,
  hash32,
  referenceTrace,
  sftTraces,
  slippedTrace,
  splitOf,
  traceCompletion,
} from "../../src/data/synthetic/arithmetic.ts";
import { seededRandom } from "../../src/model/random.ts";
import { verifySync } from "../../src/verify/index.ts";

/** Evaluates "a+b*c-d" on its own terms: a signed sum of products (not the module's step solver). */
function evaluate(expression: string): number {
  assert.match(expression, /^\d+([+\-*]\d+)*$/);
  let total = 0;
  for (const term of expression.match(/[+-]?[^+-]+/g) ?? []) {
    const sign = term.startsWith("-") ? -1 : 1;
    const product = term
      .replace(/^[+-]/, "")
      .split("*")
      .reduce((p, f) => p * Number(f), 1);
    total += sign * product;
  }
  return total;
}

/** The "a op b = c" lines of a trace, each checked for its own arithmetic. */
function traceLines(trace: string): { text: string; right: boolean }[] {
  const m = /^<think>\n([\s\S]*)\n<\/think>\n\\boxed\{(-?\d+)\}$/.exec(trace);
  assert.ok(m, `trace layout: ${JSON.stringify(trace)}`);
  return m[1].split("\n").map((text) => {
    const s = /^(-?\d+)([+\-*])(\d+)=(-?\d+)$/.exec(text);
    assert.ok(s, `step line: ${JSON.stringify(text)}`);
    const [a, op, b, c] = [Number(s[1]), s[2], Number(s[3]), Number(s[4])];
    const value = op === "+" ? a + b : op === "-" ? a - b : a * b;
    return { text, right: value === c };
  });
}

const boxed = (trace: string) => /\\boxed\{(-?\d+)\}$/.exec(trace)?.[1];

const train = arithmeticProblems({ split: "train", count: 4000, seed: 1 });
const heldout = arithmeticProblems({ split: "heldout", count: 1000, seed: 2 });
const withTimes = arithmeticProblems({ count: 1000, seed: 3, ops: ["+", "-", "*"], maxOperands: 4 });

describe("arithmetic problems", () => {
  it("are reproducible by seed, and a smaller count is a prefix of a larger one", () => {
    assert.deepEqual(arithmeticProblems({ count: 300, seed: 1 }), train.slice(0, 300));
    const other = arithmeticProblems({ count: 300, seed: 9 });
    assert.notDeepEqual(
      other.map((p) => p.problem),
      train.slice(0, 300).map((p) => p.problem),
    );
    const stream = arithmeticStream({ seed: 1 });
    for (let i = 0; i < 10; i++) assert.deepEqual(stream.next().value, train[i]);
  });

  it("never share a problem text between train and held-out, whatever the seeds and difficulty", () => {
    const trainTexts = new Set(train.map((p) => p.problem));
    const harder = arithmeticProblems({
      split: "heldout",
      count: 1000,
      seed: 7,
      minOperands: 2,
      maxOperands: 3,
    });
    const easy = arithmeticProblems({ split: "heldout", count: 25, seed: 8, maxOperands: 2, maxDigits: 1 });
    for (const p of [...heldout, ...harder, ...easy]) {
      assert.equal(p.split, "heldout");
      assert.ok(!trainTexts.has(p.problem), `${p.problem} is in both splits`);
    }
    for (const p of train) assert.equal(splitOf(p.expression, 0.2), "train");
    // The easy space (2 one-digit operands, + and -, no negative answer: 155 expressions) is shared out by hash.
    assert.ok(easy.length > 0 && easy.every((p) => splitOf(p.expression, 0.2) === "heldout"));
  });

  it("put about heldoutFraction of expressions in held-out", () => {
    let held = 0;
    for (let i = 0; i < 20000; i++) if (splitOf(`${i}+${i % 97}`, 0.2) === "heldout") held++;
    assert.ok(held > 3600 && held < 4400, `${held} of 20000 held out`);
    assert.notEqual(hash32("1+2"), hash32("2+1"));
  });

  it("are distinct within a set, with unique ids", () => {
    for (const set of [train, heldout, withTimes]) {
      assert.equal(new Set(set.map((p) => p.problem)).size, set.length);
      assert.equal(new Set(set.map((p) => p.id)).size, set.length);
    }
  });

  it("have the right answers (computed independently) as strings", () => {
    for (const p of [...train, ...heldout, ...withTimes]) {
      assert.equal(p.problem, `Compute ${p.expression}.`);
      assert.equal(p.answer, String(evaluate(p.expression)), p.problem);
    }
  });

  it("respect the difficulty knobs", () => {
    const check = (set: ArithmeticProblem[], o: { operands: [number, number]; digits: [number, number] }) => {
      for (const p of set) {
        assert.ok(p.operands.length >= o.operands[0] && p.operands.length <= o.operands[1], p.problem);
        for (const x of p.operands) {
          const digits = String(x).length;
          assert.ok(digits >= o.digits[0] && digits <= o.digits[1], p.problem);
        }
        assert.ok(Number(p.answer) >= 0 && Number(p.answer) <= 999, p.problem);
      }
    };
    check(train, { operands: [2, 4], digits: [1, 2] });
    check(withTimes, { operands: [2, 4], digits: [1, 2] });
    const hard = arithmeticProblems({
      count: 300,
      minOperands: 4,
      maxOperands: 4,
      minDigits: 2,
      maxDigits: 2,
    });
    check(hard, { operands: [4, 4], digits: [2, 2] });
    assert.ok(train.every((p) => p.ops.every((op) => op !== "*")));
    assert.ok(withTimes.some((p) => p.ops.includes("*")));
    const signed = arithmeticProblems({ count: 500, allowNegative: true, ops: ["-"] });
    assert.ok(signed.some((p) => Number(p.answer) < 0));
    for (const p of signed) assert.equal(p.answer, String(evaluate(p.expression)));
  });

  it("reject bad options, and say so when the space of problems runs out", () => {
    assert.throws(() => arithmeticProblems({ count: 1, minOperands: 4, maxOperands: 3 }), /minOperands/);
    assert.throws(() => arithmeticProblems({ count: 1, ops: ["+", "+"] }), /distinct/);
    // 2 one-digit operands with "+": 100 expressions, about 80 of them in train.
    assert.throws(
      () => arithmeticProblems({ count: 100, maxOperands: 2, maxDigits: 1, ops: ["+"] }),
      /no new train problem/,
    );
  });

  it("use only the characters of ARITHMETIC_CHARACTERS outside the think tags", () => {
    const alphabet = new Set(ARITHMETIC_CHARACTERS);
    for (const p of [...train.slice(0, 500), ...withTimes]) {
      const text = p.problem + p.solution.replace("<think>", "").replace("</think>", "");
      for (const c of text) assert.ok(alphabet.has(c), JSON.stringify(c));
    }
  });
});

describe("arithmetic traces", () => {
  it("reference traces are step-by-step, right at every step, and end in \\boxed{answer}", () => {
    assert.equal(
      referenceTrace([37, 48, 15], ["+", "-"]),
      "<think>\n37+48=85\n85-15=70\n</think>\n\\boxed{70}",
    );
    assert.equal(
      referenceTrace([2, 3, 4, 5, 6], ["+", "*", "-", "*"]),
      "<think>\n3*4=12\n5*6=30\n2+12=14\n14-30=-16\n</think>\n\\boxed{-16}",
    );
    for (const p of [...train.slice(0, 1000), ...withTimes]) {
      const lines = traceLines(p.solution);
      assert.equal(lines.length, p.operands.length - 1);
      assert.ok(lines.every((l) => l.right));
      assert.equal(boxed(p.solution), p.answer);
    }
  });

  it("the verifier grades every reference trace correct, and the completion after <think> too", () => {
    for (const p of [...train.slice(0, 600), ...heldout.slice(0, 300), ...withTimes.slice(0, 300)]) {
      for (const text of [p.solution, traceCompletion(p.solution)]) {
        const r = verifySync(p.answer, text, { pred: "open-rs-answer" });
        assert.ok(r.equivalent, `${p.problem}: ${JSON.stringify(r)}`);
      }
      assert.ok(verifySync(p.answer, p.solution).equivalent, p.problem);
    }
  });

  it("slipped traces have exactly one wrong step, a wrong answer, and the verifier grades them wrong", () => {
    const rand = seededRandom(5);
    for (const p of [...train.slice(0, 600), ...withTimes.slice(0, 400)]) {
      const s = slippedTrace(p.operands, p.ops, rand);
      const lines = traceLines(s.trace);
      assert.equal(lines.filter((l) => !l.right).length, 1, s.trace);
      assert.notEqual(String(s.answer), p.answer);
      assert.equal(boxed(s.trace), String(s.answer));
      assert.ok(!verifySync(p.answer, s.trace, { pred: "open-rs-answer" }).equivalent, s.trace);
      assert.ok(!verifySync(p.answer, s.trace).equivalent, s.trace);
    }
  });

  it("a slip that a factor 0 would cancel moves to the last step", () => {
    for (let seed = 0; seed < 200; seed++) {
      const s = slippedTrace([2, 3, 0], ["*", "*"], seededRandom(seed));
      assert.notEqual(s.answer, 0);
      assert.equal(s.slip.step, 1);
    }
  });

  it("sftTraces slips the given share of traces, reproducibly and independently of list order", () => {
    const problems = train.slice(0, 2000);
    const none = sftTraces(problems, { slipRate: 0 });
    assert.ok(none.every((t, i) => !t.slipped && t.trace === problems[i].solution));
    assert.ok(sftTraces(problems.slice(0, 200), { slipRate: 1 }).every((t) => t.slipped));
    const weak = sftTraces(problems, { slipRate: 0.3, seed: 4 });
    const share = weak.filter((t) => t.slipped).length / weak.length;
    assert.ok(share > 0.25 && share < 0.35, `slipped share ${share}`);
    assert.deepEqual(sftTraces(problems, { slipRate: 0.3, seed: 4 }), weak);
    assert.deepEqual(sftTraces([...problems].reverse(), { slipRate: 0.3, seed: 4 }).reverse(), weak);
    assert.notDeepEqual(sftTraces(problems, { slipRate: 0.3, seed: 5 }), weak);
    for (const [i, t] of weak.entries()) {
      assert.equal(t.completion, t.trace.slice("<think>\n".length));
      assert.equal(
        verifySync(problems[i].answer, t.completion, { pred: "open-rs-answer" }).equivalent,
        !t.slipped,
      );
    }
  });
});
