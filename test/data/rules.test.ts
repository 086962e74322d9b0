/**
 * The building blocks of curation: text normalisation and n-grams, MinHash/LSH,
 * the benchmark overlap index, answer kinds, the problem rules (proofs,
 * multiple choice, multi-part, several boxed answers) and the language measures.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { answerKind } from "../../src/data/answer-kind.ts";
import { ContaminationIndex } from "../../src/data/contamination.ts";
import { englishShare, proseOf, scriptCounts } from "../../src/data/language.ts";
import { LshIndex, MinHasher } from "../../src/data/minhash.ts";
import {
  asksForProof,
  distinctBoxedAnswers,
  isChoiceLetterAnswer,
  isMultiPart,
  listsChoices,
} from "../../src/data/problem-rules.ts";
import { exactKey, jaccard, ngramHashes, textTokens } from "../../src/data/text.ts";

test("normalisation ignores case, spacing, $ and LaTeX spelling variants", () => {
  assert.deepEqual(textTokens("Find  $\\dfrac{1}{2}$ of\n10, \\left( x \\right)."), [
    "find",
    "1",
    "2",
    "of",
    "10",
    "x",
  ]);
  assert.deepEqual(textTokens("If $x \\le 3$, find $x^2$."), ["if", "x", "\\leq", "3", "find", "x", "2"]);
  assert.equal(exactKey("What is $1+1$?"), exactKey("what  is \\(1 + 1\\) ?"));
  assert.notEqual(exactKey("What is 1+1?"), exactKey("What is 1+2?"));
});

test("n-grams: sorted distinct hashes; short texts give one gram; Jaccard of sets", () => {
  const a = ngramHashes(["a", "b", "c", "a", "b", "c"], 3); // abc bca cab abc -> 3 distinct
  assert.equal(a.length, 3);
  assert.ok(a.every((v, i) => i === 0 || a[i - 1] < v));
  assert.equal(ngramHashes(["only", "two"], 8).length, 1);
  assert.equal(ngramHashes([], 3).length, 0);
  assert.equal(jaccard(a, a), 1);
  const b = ngramHashes(["a", "b", "c", "d"], 3); // abc bcd: shares abc
  assert.equal(jaccard(a, b), 1 / 4);
});

test("MinHash/LSH makes near-duplicates candidates and leaves unrelated texts apart", () => {
  const words = (s: string) => ngramHashes(textTokens(s), 3);
  const base =
    "A bag holds 5 red marbles and 7 blue marbles. Two marbles are drawn at random without replacement. " +
    "What is the probability that both marbles are red? Express your answer as a common fraction.";
  const near = base.replace(
    "Express your answer as a common fraction.",
    "Give your answer as a common fraction.",
  );
  const other = "Let f(x) = x^3 - 3x + 1. How many real roots does the equation f(f(x)) = 0 have in total?";
  assert.ok(jaccard(words(base), words(near)) > 0.75);
  const hasher = new MinHasher(128, 1);
  const lsh = new LshIndex(32, 128);
  lsh.add(0, lsh.keys(hasher.signature(words(base))));
  assert.deepEqual(lsh.candidates(lsh.keys(hasher.signature(words(near)))), [0]);
  assert.deepEqual(lsh.candidates(lsh.keys(hasher.signature(words(other)))), []);
  assert.throws(() => new LshIndex(5, 128), /cannot be cut/);
});

test("the overlap index finds a benchmark problem inside a longer text, not a different one", () => {
  const index = new ContaminationIndex(
    [
      {
        id: "b1",
        benchmark: "bench",
        answer: "5",
        problem:
          "How many positive divisors does the number 48 have that are also perfect squares of integers?",
      },
      { id: "b2", benchmark: "bench", answer: "1", problem: "Compute the sum of the first ten odd numbers." },
    ],
    8,
  );
  const hits = index.hits(
    "Problem 3. How many positive divisors does the number 48 have that are also perfect squares of integers? Justify.",
    0.5,
  );
  assert.deepEqual(
    hits.map((h) => [h.benchmarkId, h.overlap]),
    [["b1", 1]],
  );
  // A benchmark problem shorter than the n-gram counts when contained.
  const short = new ContaminationIndex(
    [{ id: "s", benchmark: "bench", answer: "11\\sqrt2", problem: "Simplify $\\sqrt{242}$." }],
    8,
  );
  assert.equal(short.hits("Warm-up. Simplify √242 before the main question.", 0.5)[0]?.overlap, 1);
  assert.deepEqual(short.hits("Simplify $\\sqrt{243}$ and more.", 0.5), []);
  assert.deepEqual(index.hits("What is the area of a circle of radius 3 in square units?", 0.5), []);
});

test("a thorough rewrite with the same rare numbers and rare words matches loosely; other numbers or words do not", () => {
  const bench = (id: string, problem: string) => ({ id, benchmark: "bench", answer: "1", problem });
  const index = new ContaminationIndex(
    [
      bench("divisors", "How many positive whole-number divisors does 196 have?"),
      bench("remainder", "Find the remainder when 196 is divided by 7."),
      bench("root", "Is 196 a perfect square? Give its square root."),
      bench("sum", "What is the sum of all positive divisors of 48?"),
      bench("area", "Compute the area of a triangle with sides 13, 14 and 15."),
      // Common words weigh little, as in the real benchmarks.
      ...[3, 5, 8, 11, 12, 17].map((n) =>
        bench(`common-${n}`, `Find the value of the sum of the first ${n} squares.`),
      ),
    ],
    8,
  );
  const rewrite = "Find the number of positive divisors of 196.";
  const hits = index.hits(rewrite, 0.5, 0.3);
  assert.deepEqual(
    hits.map((h) => [h.benchmarkId, h.sameNumbers]),
    [["divisors", true]],
  );
  assert.ok(hits[0].wordOverlap >= 0.6, `word overlap ${hits[0].wordOverlap}`);
  // Other numbers: whatever the words, no word match (the 3-gram rule may still see a look-alike).
  for (const h of index.hits("How many positive whole-number divisors does 200 have?", 0.5, 0.3))
    assert.equal(h.wordOverlap, 0, h.benchmarkId);
  // Loose matching off: no word match either.
  assert.deepEqual(index.hits(rewrite, 0.5), []);
});

test("answer kinds", () => {
  const kinds = Object.fromEntries(
    [
      "42",
      "-7",
      "\\frac{3}{4}",
      "0.25",
      "2\\sqrt{3}",
      "x^2+1",
      "(1, 2)",
      "[0, 1)",
      "\\text{Tuesday}",
      "C",
      "",
      "   ",
    ].map((a) => [a, answerKind(a)]),
  );
  assert.deepEqual(kinds, {
    "42": "integer",
    "-7": "integer",
    "\\frac{3}{4}": "fraction",
    "0.25": "fraction",
    "2\\sqrt{3}": "expression",
    "x^2+1": "expression",
    "(1, 2)": "interval/tuple",
    "[0, 1)": "interval/tuple",
    "\\text{Tuesday}": "text",
    C: "text",
    "": "missing",
    "   ": "missing",
  });
});

test("proofs: 'prove', 'show that'; not the word PROOF", () => {
  assert.ok(asksForProof("Prove that there are infinitely many primes."));
  assert.ok(asksForProof("Let n be odd. Show that n^2 - 1 is divisible by 8."));
  assert.ok(!asksForProof("Determine the number of ways to arrange the letters of the word PROOF."));
  assert.ok(!asksForProof("Find all x with x^2 = 4."));
  assert.ok(asksForProof("Let $a, b > 0$.\nShow that $a + b \\ge 2\\sqrt{ab}$."));
  assert.ok(
    !asksForProof(
      "In what year will the census show that the number of wrens is less than 10% of what it was?",
    ),
  );
});

test("multiple choice: answers that are only option letters", () => {
  for (const a of ["C", "(C)", "\\text{(C)}", "\\textbf{(B)}", "\\text{A, D, F}", "D, E", "$\\text{B}$"])
    assert.ok(isChoiceLetterAnswer(a), a);
  for (const a of ["42", "x", "\\text{Tuesday}", "C_1", "AB", "(6,0)"])
    assert.ok(!isChoiceLetterAnswer(a), a);
  assert.ok(listsChoices("Which is largest? (A) 1 (B) 2 (C) 3 (D) 4"));
  assert.ok(listsChoices("$\\textbf{(A)}\\ 1 \\qquad \\textbf{(B)}\\ 2 \\qquad \\textbf{(C)}\\ 3$"));
  assert.ok(!listsChoices("Let f(A) = 2 and f(B) = 3."));
});

test("multi-part: two marked parts that each ask; numbered conditions are not parts", () => {
  assert.ok(isMultiPart("A train leaves at noon.\n(a) Find its speed.\n(b) How far does it go in 3 hours?"));
  assert.ok(isMultiPart("Let x = 2. (i) Compute x^2. (ii) Determine x^3."));
  assert.ok(isMultiPart("Part 1: Find the mean. Part 2: what is the median?"));
  assert.ok(
    !isMultiPart(
      "Let a_1, a_2, ... be a sequence with the following properties.\n\n(i) $a_1 = 1$, and\n\n" +
        "(ii) $a_{2n}=n\\cdot a_n$ for any positive integer $n$.\n\nWhat is the value of $a_{2^{100}}$?",
    ),
  );
  assert.ok(
    !isMultiPart("Exactly three are true: (1) It is prime. (2) It is even. (3) It is divisible by 7."),
  );
  assert.ok(!isMultiPart("Evaluate f(a) + f(b) where f(x) = x^2, a = 1, b = 2."));
});

test("several boxed answers: different values count; letters and repeats do not", () => {
  const same = (a: string, b: string) => a.replace("\\dfrac", "\\frac") === b.replace("\\dfrac", "\\frac");
  assert.deepEqual(distinctBoxedAnswers("So $\\boxed{(-2,18)}$ and $\\boxed{(8,38)}$.", same), [
    "(-2,18)",
    "(8,38)",
  ]);
  assert.deepEqual(distinctBoxedAnswers("$\\boxed{2}$ ... $\\boxed{\\textbf{(C)}}$", same), ["2"]);
  assert.deepEqual(distinctBoxedAnswers("$\\boxed{\\dfrac{1}{6}}$ so $\\boxed{\\frac{1}{6}}$", same), [
    "\\dfrac{1}{6}",
  ]);
  assert.deepEqual(distinctBoxedAnswers("$\\boxed{(D) \\frac{5}{3}}$ and $\\boxed{\\frac{5}{3}}$", same), [
    "\\frac{5}{3}",
  ]);
  assert.deepEqual(distinctBoxedAnswers("no box", same), []);
});

test("language: prose without math, scripts, share of English words", () => {
  assert.equal(proseOf("Find $\\alpha$ if \\[x^2\\] holds.").replace(/\s+/g, " ").trim(), "Find if holds.");
  assert.deepEqual(scriptCounts("求 $x$ 的值"), { Han: 3 });
  assert.deepEqual(scriptCounts("Найдите $x$ if"), { Cyrillic: 7, Latin: 2 });
  assert.ok(
    englishShare("Find the number of positive integers n such that the sum of the digits of n is 10.") > 0.3,
  );
  assert.ok(englishShare("Soit f une fonction définie sur les réels telle que f de trois vaut deux.") < 0.1);
});
