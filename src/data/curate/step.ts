/**
 * The contract between the curation pipeline and its steps. A step is a named,
 * async function from rows to rows with a zod schema for its parameters:
 *
 *   export const lengthStep = defineStep({
 *     type: "length",
 *     summary: "drop problems, answers or solutions outside character limits",
 *     params: z.object({ ... }).strict(),
 *     async run(rows, params, ctx) { ...; return { kept, dropped }; },
 *   });
 *
 * and is made available to recipes by adding it to the registry (registry.ts).
 * The pipeline gives a step only the rows its `where` selects, checks that every
 * row comes back exactly once (kept or dropped with a reason), times it, and
 * reports it as one line of the funnel.
 *
 * Steps may change the rows they keep in place: set `answer` (the `verifiable`
 * step takes it from the solution) and add labels (`answer_kind`, `pool`; a
 * `difficulty` step would add its pass rate and "easy"/"hard"). Labels are
 * written with the rows. A step that calls a model (difficulty by pass rate, an
 * LLM judge) keeps what it computed per problem under `ctx.cacheDir`, so a run
 * that stops can resume, and checks `ctx.signal` between units of work.
 */
import type { z } from "zod";
import type { HubOptions } from "../hub.ts";
import type { DataRow } from "../row.ts";

/** A row a step did not keep: why (a short code, e.g. "near-duplicate") and details (e.g. of which row). */
export interface Drop {
  row: DataRow;
  reason: string;
  detail?: string;
}

/** What a step returns. */
export interface StepOutcome {
  /** The rows kept, in the order they should go on (usually the input order). */
  kept: DataRow[];
  /** Every other input row, with its reason. */
  dropped: Drop[];
  /** Facts for report.json under the step's name, e.g. every benchmark hit. */
  details?: Record<string, unknown>;
  /** Markdown lines for report.md under the step's heading. */
  notes?: string[];
  /** Files the step wrote. */
  outputs?: string[];
}

/** What the pipeline gives a step besides its rows and parameters. */
export interface StepContext {
  /** The step's name in the recipe (its type, or the `name` given there). */
  name: string;
  /** Progress and notes for the user. */
  log: (message: string) => void;
  /** A folder kept between runs for caches of this step (created on demand by the step). */
  cacheDir: string;
  /** The run's output folder (exists). */
  outDir: string;
  /** Aborted when the user stops the run; long steps check it between units of work. */
  signal: AbortSignal;
  /** The recipe's seed; steps that draw at random derive theirs from it unless given one. */
  seed: number;
  /** How to reach the Hugging Face hub, for steps that read datasets. */
  hub: HubOptions;
}

/** A kind of step: its name in recipes, a one-line summary, its parameters and what it does. */
export interface StepDefinition<P extends z.ZodType = z.ZodType> {
  /** The name recipes use: `- step: dedupe`. */
  type: string;
  /** One line describing the step. */
  summary: string;
  /** The step's parameters (all the keys of its recipe entry but step, name and where). */
  params: P;
  /** Runs the step on the rows selected for it. */
  run(rows: DataRow[], params: z.output<P>, ctx: StepContext): Promise<StepOutcome>;
}

/** Types a step definition (an identity function, for inference of the parameters' type). */
export function defineStep<P extends z.ZodType>(definition: StepDefinition<P>): StepDefinition<P> {
  return definition;
}
