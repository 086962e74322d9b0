/**
 * A "format" reward for the guards' end-to-end test (run-guards.test.ts): 1 for the first 8
 * completions it scores in a process (the tiny recipe's first GRPO step: 2 prompts x 4), 0 for
 * every one after, so format_collapse sees the format share drop from 100% to 0% at step 2 and
 * stay there, whatever the tiny model writes.
 */
let scored = 0;

export default function formatOnFirstStepOnly(): number {
  scored += 1;
  return scored <= 8 ? 1 : 0;
}
