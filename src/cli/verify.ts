/**
 * `reasonrl verify`: compare one gold answer with one prediction
 * (--gold/--pred), or every case of a JSONL file (--in/--out).
 */
import type { Command } from "commander";
import { VerifyInputError, verifyFile } from "../verify/batch.ts";
import type { VerifyOptionsInput } from "../verify/config.ts";
import { VerifierPool } from "../verify/pool.ts";
import { integer, jsonOption, timeoutMs, timeoutOption } from "./options.ts";
import { fail, printResult } from "./output.ts";

interface VerifyCliOptions {
  gold?: string;
  pred?: string;
  in?: string;
  out?: string;
  /** Decimal places (checked by its parser). */
  precision?: number;
  /** Seconds. */
  timeout?: number;
  loose?: boolean;
  json?: boolean;
}

/** The verifier's options of the flags (each already checked where it was parsed). */
function options(o: VerifyCliOptions): VerifyOptionsInput {
  return {
    ...(o.precision !== undefined ? { precision: o.precision } : {}),
    ...(o.timeout !== undefined ? { timeoutMs: timeoutMs(o.timeout) } : {}),
    ...(o.loose ? { strict: false } : {}),
  };
}

async function single(o: VerifyCliOptions): Promise<void> {
  const pool = new VerifierPool({ workers: 1 });
  try {
    const r = await pool.verify(o.gold as string, o.pred as string, options(o));
    const text = [
      r.equivalent ? "equivalent" : "not equivalent",
      `  gold: ${r.gold.parsed.join(" | ") || "(not parsed)"}   [${r.gold.via}]`,
      `  pred: ${r.pred.parsed.join(" | ") || "(not parsed)"}   [${r.pred.via}]`,
      `  ${r.ms} ms${r.timedOut ? " (timed out)" : ""}${r.error ? ` error: ${r.error}` : ""}`,
    ].join("\n");
    printResult(
      {
        equivalent: r.equivalent,
        gold_parsed: r.gold.parsed,
        pred_parsed: r.pred.parsed,
        ms: r.ms,
        timed_out: r.timedOut,
        ...(r.error ? { error: r.error } : {}),
      },
      o,
      text,
    );
  } finally {
    await pool.close();
  }
}

async function batch(o: VerifyCliOptions): Promise<void> {
  try {
    const s = await verifyFile(o.in as string, o.out as string, options(o));
    if (s.cases === 0)
      fail(`--in ${o.in}: no case in the file (one JSON object per line: {"gold": ..., "pred": ...})`);
    if (!o.json) {
      const agreement =
        s.agreement === null
          ? ""
          : `, agreement with "expected" ${(s.agreement * 100).toFixed(1)}% (${s.agree}/${s.labelled})`;
      console.log(
        `${s.cases} cases: ${s.equivalent} equivalent, ${s.not_equivalent} not, ${s.timeouts} timed out${agreement}; wrote ${o.out}`,
      );
    }
    console.log(JSON.stringify(s));
  } catch (e) {
    if (e instanceof VerifyInputError) fail(e.message);
    throw e;
  }
}

/** Adds `reasonrl verify` to the program. */
export function register(program: Command): void {
  program
    .command("verify")
    .description("check whether predicted answers equal gold answers (math-aware)")
    .option("--gold <answer>", "gold answer: LaTeX, $...$, \\boxed{...} or a number")
    .option("--pred <text>", "model output or answer to check")
    .option("--in <cases.jsonl>", 'JSONL file of {"gold": ..., "pred": ...} cases')
    .option("--out <results.jsonl>", "where --in results are written (JSONL)")
    .option(
      "--precision <digits>",
      "decimal places that must agree for decimal answers (default 6)",
      integer({ min: 0, max: 15 }),
    )
    .addOption(timeoutOption("one comparison (default 3)"))
    .option("--loose", "match variables by position instead of by name")
    .addOption(jsonOption("print the result as one JSON line"))
    .action(async (o: VerifyCliOptions) => {
      const pair = o.gold !== undefined || o.pred !== undefined;
      const file = o.in !== undefined || o.out !== undefined;
      if (pair && file) fail("use either --gold/--pred or --in/--out, not both");
      if (pair) {
        if (o.gold === undefined || o.pred === undefined) fail("--gold and --pred go together");
        return single(o);
      }
      if (file) {
        if (o.in === undefined || o.out === undefined) fail("--in and --out go together");
        return batch(o);
      }
      fail("give --gold and --pred, or --in and --out (see reasonrl verify --help)");
    });
}
