/**
 * What the steps that call models share besides their cache: prompt
 * templates with slots, the seed of each call, and a loop that runs batches
 * of problems a few at a time and stops cleanly.
 */
import type { ChatMessage } from "../../model/chat-template.ts";

/** The seed of each call: a base seed and the call's first problem key (src/model/random.ts). */
export { derivedSeed } from "../../model/random.ts";

/**
 * A template with `{name}` slots filled from `values` (`{problem}`, `{answer}`, ...). Only the
 * names given are replaced; other braces (LaTeX's `\boxed{}`) stay as they are.
 */
export function fillTemplate(template: string, values: Record<string, string>): string {
  let out = template;
  for (const [name, value] of Object.entries(values)) out = out.split(`{${name}}`).join(value);
  return out;
}

/** A conversation: the system prompt when given, then the user message. */
export function conversation(user: string, system?: string): ChatMessage[] {
  return system
    ? [
        { role: "system", content: system },
        { role: "user", content: user },
      ]
    : [{ role: "user", content: user }];
}

/** `items` in consecutive groups of `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The first `max` characters of `text`, with "..." when cut. */
export function excerpt(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

/**
 * Runs `work` on each batch, `parallel` at a time, in order. After a failure, or once `signal` is
 * aborted, no new batch starts; the batches in flight finish (and so get cached) before the
 * failure is thrown, or an error saying the run was stopped.
 */
export async function runBatches<T>(
  batches: readonly T[][],
  parallel: number,
  signal: AbortSignal,
  work: (batch: T[]) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (next < batches.length && !failure && !signal.aborted) {
      const batch = batches[next++];
      try {
        await work(batch);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  if (failure) throw (failure as { error: unknown }).error;
  if (signal.aborted && next < batches.length) throw new Error("stopped (what was done is cached)");
}
