/**
 * Settings of the verifier as zod schemas (they double as documentation), and
 * named presets: how gold answers and model outputs are extracted by default,
 * and the configurations of open-rs and lighteval described in
 * ../shared/research/open-rs-spec.md (sections 3.0 and 5).
 */
import { z } from "zod";

export const ExtractionConfigSchema = z.object({
  targets: z
    .array(z.enum(["latex", "expr"]))
    .min(1)
    .default(["latex", "expr"])
    .describe(
      'What to look for: "latex" (math environments, \\boxed) and/or "expr" (plain numbers like 1,000.5 or 2/3).',
    ),
  boxedPriority: z
    .number()
    .int()
    .default(0)
    .describe(
      "Priority of \\boxed{...} matches (lower is tried first; 'final answer is ... I hope' is 0); -1 ignores boxes.",
    ),
  anchorless: z
    .boolean()
    .default(true)
    .describe(
      "Also accept math or numbers without an anchor ('answer', 'final answer is', \\boxed), rightmost first.",
    ),
  mode: z
    .enum(["first_match", "any_match"])
    .default("any_match")
    .describe(
      "first_match: only the first match of the best priority is parsed; any_match: try further matches of that priority.",
    ),
  fallback: z
    .boolean()
    .default(true)
    .describe("Keep the first match's text, compared as a string when it cannot be parsed."),
  bareLatex: z
    .boolean()
    .default(false)
    .describe(
      "Read a short text without math delimiters as LaTeX as a whole (for gold answers like '\\frac{1}{2}').",
    ),
  bareMath: z
    .boolean()
    .default(false)
    .describe(
      "Read answers without delimiters whole before their last number: a short text that reads as math ('(1, 2, 3)', 'x = y'), a bracketed group or math after 'answer', a bracketed group with a comma in prose.",
    ),
  languages: z
    .boolean()
    .default(false)
    .describe(
      "Also read answers written in other languages and scripts: fullwidth forms folded to ASCII, 'answer' in ten languages (答案, réponse, Antwort, ответ, ...), numbers right after CJK characters or 'word:'.",
    ),
  boxed: z
    .enum(["last", "all"])
    .default("all")
    .describe("Inside a math environment with several \\boxed{}: keep all of them, or the last group."),
  units: z.boolean().default(true).describe("Strip trailing units (\\text{ cm}, 'miles') before parsing."),
});
export type ExtractionConfig = z.infer<typeof ExtractionConfigSchema>;

/** How gold answers are read by default: bare LaTeX, $...$ or \boxed{...}, or plain numbers; any language. */
export const GOLD_EXTRACTION: ExtractionConfig = ExtractionConfigSchema.parse({
  bareLatex: true,
  bareMath: true,
  languages: true,
});

/**
 * How model outputs are read by default: lighteval's evaluation setting (boxed first,
 * any match), answers without delimiters read whole (`bareMath`) and answers in other
 * languages and scripts (`languages`).
 */
export const ANSWER_EXTRACTION: ExtractionConfig = ExtractionConfigSchema.parse({
  bareMath: true,
  languages: true,
});

/** Named extraction presets. */
export const EXTRACTION_PRESETS = {
  gold: GOLD_EXTRACTION,
  answer: ANSWER_EXTRACTION,
  /**
   * How open-rs read the gold (its rewards.py, Math-Verify 0.5.2's default `LatexExtractionConfig()`
   * in "first_match" mode): LaTeX only, \boxed at priority 50, anchorless matches allowed.
   */
  "open-rs-gold": ExtractionConfigSchema.parse({
    targets: ["latex"],
    boxedPriority: 50,
    mode: "first_match",
  }),
  /** How open-rs read completions: LaTeX only, \boxed first, "final answer" anchors required, first match. */
  "open-rs-answer": ExtractionConfigSchema.parse({
    targets: ["latex"],
    boxedPriority: 0,
    anchorless: false,
    mode: "first_match",
  }),
  /**
   * The `accuracy` reward's reading of completions: open-rs's (boxes or "final answer" anchors,
   * first match), and answers in other languages and scripts, so a completion that drifts into
   * Chinese, as R1 distills do, is not scored wrong for its language.
   */
  reward: ExtractionConfigSchema.parse({
    targets: ["latex"],
    boxedPriority: 0,
    anchorless: false,
    mode: "first_match",
    languages: true,
  }),
  /** lighteval's prediction side in the paper's evaluation (spec 5), as upstream: no `bareMath`, no `languages`. */
  lighteval: ExtractionConfigSchema.parse({}),
  /** Math-Verify's parse() defaults (LaTeX boxed at 50, plain numbers, any match). */
  "math-verify-default": ExtractionConfigSchema.parse({ boxedPriority: 50 }),
} satisfies Record<string, ExtractionConfig>;
export type ExtractionPresetName = keyof typeof EXTRACTION_PRESETS;

const ExtractionSetting = z
  .union([
    z.enum(Object.keys(EXTRACTION_PRESETS) as [ExtractionPresetName, ...ExtractionPresetName[]]),
    ExtractionConfigSchema,
  ])
  .describe("A preset name or a full extraction config.");

export const VerifyOptionsSchema = z.object({
  precision: z
    .number()
    .int()
    .min(0)
    .max(15)
    .default(6)
    .describe(
      "Decimal places that must agree when a decimal number is involved (also a relative tolerance of 10^-precision).",
    ),
  strict: z
    .boolean()
    .default(true)
    .describe("Variables must match by name; false matches them by position (f(x) = f(y))."),
  allowSetRelationComparison: z
    .boolean()
    .default(false)
    .describe(
      "Also read a predicted inequality as a set when the gold is a set (a gold inequality always is).",
    ),
  timeoutMs: z
    .number()
    .positive()
    .default(3000)
    .describe("Time limit of one comparison; past it the answer counts as not equal."),
  gold: ExtractionSetting.default("gold"),
  pred: ExtractionSetting.default("answer"),
});
export type VerifyOptions = z.infer<typeof VerifyOptionsSchema>;
export type VerifyOptionsInput = z.input<typeof VerifyOptionsSchema>;

/** Resolves a preset name or config into an extraction config. */
export function resolveExtraction(setting: ExtractionPresetName | ExtractionConfig): ExtractionConfig {
  return typeof setting === "string" ? EXTRACTION_PRESETS[setting] : setting;
}
