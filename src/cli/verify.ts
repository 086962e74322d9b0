/**
 * `reasonrl verify`: compare one gold answer with one prediction
 * (--gold/--pred), or every case of a JSONL file (--in/--out).
 */
import type { Command } from "commander";
import { VerifyInputError, verifyFile } from "../verify/batch.ts";
import { type VerifyOptionsInput, VerifyOptionsSchema } from "../verify/config.ts";
import { VerifierPool } from "../verify/pool.ts";
import { fail, printResult } from "./output.ts";

interface VerifyCliOptions {
  gold?: string;
  pred?: string;
  in?: string;
  out?: string;
  precision?: string;
  timeout?: string;
  loose?: boolean;
  json?: boolean;
}

function options(o: VerifyCliOptions): VerifyOptionsInput {
  const raw: Record<string, unknown> = {};
  if (o.precision !== undefined) raw.precision = Number(o.precision);
  if (o.timeout !== undefined) raw.timeoutMs = Number(o.timeout);
  if (o.loose) raw.strict = false;
  const r = VerifyOptionsSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const flag = issue.path[0] === "timeoutMs" ? "--timeout" : `--${String(issue.path[0])}`;
    fail(`${flag}: ${issue.message}`);
  }
  return raw as VerifyOptionsInput;
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
    .option("--precision <digits>", "decimal places that must agree for decimal answers (default 6)")
    .option("--timeout <ms>", "time limit per comparison in milliseconds (default 3000)")
    .option("--loose", "match variables by position instead of by name")
    .option("--json", "print the result as one JSON line")
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
