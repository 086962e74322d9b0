/**
 * Gold answers for the verifier's benchmark and data tests: the benchmark
 * files of ../shared/data/benchmarks (next to the checkout, or where
 * REASONRL_DATA_DIR points), or a small built-in set when those are absent.
 * Also the rewritings used to test each gold: equal forms and wrong ones.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** One gold answer and where it came from. */
export interface GoldAnswer {
  id: string;
  answer: string;
}

/** The shared data directory (REASONRL_DATA_DIR if set, else ../shared/data beside the checkout), or null when absent. */
export function dataDir(): string | null {
  const dir =
    process.env.REASONRL_DATA_DIR || resolve(fileURLToPath(new URL("../../../shared/data", import.meta.url)));
  return existsSync(join(dir, "benchmarks")) ? dir : null;
}

/** Built-in golds of the same kinds as the benchmarks (integers, fractions, intervals, tuples, text, matrices). */
export const BUILTIN_GOLDS: GoldAnswer[] = [
  "204",
  "-1",
  "\\frac{8}{21}",
  "3 \\pm 2 \\sqrt{2}",
  "137 \\frac{1}{2}",
  "x^5 - x^4 + x^3 - x^2 + x - 1",
  "(0,9) \\cup (9,36)",
  "(1,-16,-4,43)",
  "\\text{Navin}",
  "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}",
  "10,\\!080",
  "\\$18.90",
  "90^\\circ",
  "4.46e19",
  "\\frac{1}{4p^2}",
  "g(x)=x^2-2x+2",
  "\\frac{1}{3},-2,5",
  "[\\frac{1}{2}, 8]",
  "52_8",
  "\\sqrt{130}",
].map((answer, i) => ({ id: `builtin-${i}`, answer }));

/** Gold answers of every benchmark file (or the built-in set), and where they came from. */
export function loadGolds(): { golds: GoldAnswer[]; source: string } {
  const dir = dataDir();
  if (!dir) return { golds: BUILTIN_GOLDS, source: "built-in" };
  const bench = join(dir, "benchmarks");
  const golds: GoldAnswer[] = [];
  for (const f of readdirSync(bench)
    .filter((n) => n.endsWith(".jsonl"))
    .sort()) {
    readFileSync(join(bench, f), "utf8")
      .split("\n")
      .forEach((line, i) => {
        if (line.trim() === "") return;
        const row = JSON.parse(line) as { id?: string; answer?: unknown };
        if (typeof row.answer !== "string") throw new Error(`${f}:${i + 1}: no string "answer"`);
        golds.push({ id: row.id ?? `${f}:${i + 1}`, answer: row.answer });
      });
  }
  return { golds, source: bench };
}

/** Ways a model might write the gold answer correctly. */
export function equalRewritings(gold: string): string[] {
  return [
    `So the answer is therefore $\\boxed{${gold}}$.`,
    `Final Answer: The final answer is $${gold}$. I hope it is correct.`,
    `<think>\nsome reasoning\n</think>\nThe answer: \\(${gold}\\)`,
  ];
}

/** A wrong answer of the same shape: the choice letter or the first digit changed, or "+ 1" appended. */
export function wrongRewriting(gold: string): string {
  const choice = /^(\\text\{\(?)([A-E])(\)?\})$/.exec(gold.trim());
  if (choice)
    return `So the answer is $\\boxed{${choice[1]}${"BCDEA"["ABCDE".indexOf(choice[2])]}${choice[3]}}$.`;
  const m = /\d/.exec(gold);
  const wrong = m
    ? gold.slice(0, m.index) + String((Number(m[0]) + 1) % 10) + gold.slice(m.index + 1)
    : `${gold} + 1`;
  return `So the answer is $\\boxed{${wrong}}$.`;
}
