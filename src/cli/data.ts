/**
 * `reasonrl data ...`: look at data files, download hub datasets, and run
 * curation recipes (src/data).
 */
import { existsSync, statSync } from "node:fs";
import { type Command, Option } from "commander";
import { defaultCurationCache, runCuration } from "../data/curate/pipeline.ts";
import { loadCurationRecipe } from "../data/curate/recipe.ts";
import { defaultRegistry } from "../data/curate/registry.ts";
import { formatFunnel } from "../data/curate/report.ts";
import type { FileFormat } from "../data/files.ts";
import { hubDatasetFiles } from "../data/hub.ts";
import { describeInspect, inspectFile } from "../data/inspect.ts";
import { stopOnCtrlC } from "./interrupt.ts";
import { datasetsOption, jsonOption, setOption } from "./options.ts";
import { fail, printResult, progressLog } from "./output.ts";

/** Registers `reasonrl data *`. Long by nature: the subcommands' declarative option lists, no logic. */
export function register(program: Command): void {
  const data = program
    .command("data")
    .description("inspect data files, download hub datasets, curate training sets");

  data
    .command("inspect")
    .description(
      "rows, fields and fill rates, answer kinds, length percentiles and exact duplicates of a data file",
    )
    .argument("<file>", ".jsonl, .json or .parquet file")
    .option("--problem-field <name>", "field of the problem text", "problem")
    .option("--answer-field <name>", "field of the gold answer", "answer")
    .option("--solution-field <name>", "field of the worked solution", "solution")
    .option("--id-field <name>", "field of the row id", "id")
    .addOption(
      new Option("--format <format>", "jsonl, json or parquet (default: by extension)").choices([
        "jsonl",
        "json",
        "parquet",
      ]),
    )
    .addOption(jsonOption("print only the JSON result"))
    .action(
      async (
        file: string,
        opts: {
          problemField: string;
          answerField: string;
          solutionField: string;
          idField: string;
          format?: FileFormat;
          json?: boolean;
        },
      ) => {
        if (existsSync(file) && statSync(file).isDirectory()) fail(`${file}: a folder, not a data file`);
        const result = await inspectFile(
          file,
          {
            problem: opts.problemField,
            answer: opts.answerField,
            solution: opts.solutionField,
            id: opts.idField,
          },
          opts.format,
        );
        // JSON keys in snake_case (output.ts); the names inside come from the data and stay as they are.
        const { badRows, answerField, answerKinds, ...rest } = result;
        printResult(
          { ...rest, bad_rows: badRows, answer_field: answerField, answer_kinds: answerKinds },
          opts,
          describeInspect(result),
        );
        // A file nothing can be trained or evaluated on is an error, after its report.
        if (result.rows === 0)
          fail(
            `${file}: no usable row${result.bad ? ` (${result.bad} bad; line ${badRows[0].line ?? badRows[0].index + 1}: ${badRows[0].reason})` : ""}`,
          );
        if (!result.fields.some((f) => f.name === opts.problemField && f.filled > 0))
          fail(
            `${file}: no row has the field "${opts.problemField}" (--problem-field); its fields: ${result.fields.map((f) => f.name).join(", ")}`,
          );
      },
    );

  data
    .command("curate")
    .description("run a curation recipe: sources -> steps -> funnel report and output files in --out")
    .argument("<recipe>", "YAML recipe, e.g. recipes/data/local-demo.yaml")
    .requiredOption("--out <dir>", "output folder (report.md, report.json, dropped.jsonl, written files)")
    .addOption(setOption("sources.math.limit=100"))
    .option("--cache-dir <dir>", "cache of steps that call models (default ~/.cache/reasonrl/curate)")
    .addOption(datasetsOption())
    .addOption(jsonOption("print only the JSON summary; progress goes to stderr"))
    .action(
      async (
        path: string,
        opts: { out: string; set: string[]; cacheDir?: string; datasets?: string; json?: boolean },
      ) => {
        const plan = await loadCurationRecipe(path, defaultRegistry(), opts.set);
        const notice = () => console.error("stopping (Ctrl-C again to quit now)...");
        await stopOnCtrlC(notice, async (signal) => {
          const { report } = await runCuration(plan, {
            outDir: opts.out,
            cacheDir: opts.cacheDir,
            hub: { cacheDir: opts.datasets, log: progressLog(opts.json) },
            log: progressLog(opts.json),
            signal,
          }).catch((err) => {
            if (!signal.aborted) throw err;
            const cache = opts.cacheDir ?? defaultCurationCache();
            throw new Error(
              `curation stopped before its end: no report written to ${opts.out}; the results of steps that call models are kept in ${cache}, so the same command goes on from there`,
            );
          });
          const text = `${formatFunnel(report)}\nreport: ${opts.out}/report.md (and report.json, dropped.jsonl)`;
          printResult(
            {
              recipe: report.recipe,
              out: opts.out,
              final: report.final,
              seconds: Math.round(report.seconds * 100) / 100,
              funnel: report.funnel,
              outputs: report.outputs,
            },
            opts,
            text,
          );
        });
      },
    );

  data
    .command("steps")
    .description("list the curation steps recipes can use")
    .addOption(jsonOption("print only the JSON list"))
    .action((opts: { json?: boolean }) => {
      const steps = defaultRegistry()
        .all()
        .map((s) => ({ step: s.type, summary: s.summary }));
      printResult({ steps }, opts, steps.map((s) => `${s.step.padEnd(14)} ${s.summary}`).join("\n"));
    });

  data
    .command("download")
    .description("download a Hugging Face dataset split into the cache and print its local files")
    .argument("<repo>", "owner/name, e.g. knoveleng/open-rs")
    .option("--split <split>", "split", "train")
    .option("--revision <rev>", "branch, tag or commit", "main")
    .addOption(datasetsOption())
    .addOption(jsonOption("print only the JSON result"))
    .action(
      async (repo: string, opts: { split: string; revision: string; datasets?: string; json?: boolean }) => {
        const files = await hubDatasetFiles(
          { repo, split: opts.split, revision: opts.revision },
          { cacheDir: opts.datasets, log: progressLog(opts.json) },
        );
        printResult({ repo, split: opts.split, files }, opts, files.map((f) => f.path).join("\n"));
      },
    );
}
