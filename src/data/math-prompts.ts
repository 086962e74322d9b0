/**
 * Math prompt templates shared by the layers that ask models to solve problems
 * (curation's difficulty step here, `reasonrl eval` above): a user message
 * with a `{problem}` slot. Defined once, here, the lowest layer that uses them.
 */

/** DeepSeek-R1's recommended math directive, after the problem (`reasonrl eval --prompt deepseek`). */
export const DEEPSEEK_MATH_PROMPT =
  "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}.";
