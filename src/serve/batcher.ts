/**
 * One API request as sequences on a continuous batch: n samples of each
 * prompt, submitted at once to the scheduler (src/generate/scheduler.ts) of
 * the model the request named (the base's, or a loaded adapter's), which
 * decodes them together with those of every other request for that model in
 * flight (up to maxBatch; the rest queue and join as slots free). Requests for
 * different adapters take turns on the engine (engine-turns.ts). The
 * scheduler, not this file, does the batching; this file fans a request out
 * into sequences and gathers their results.
 *
 * Choice i * n + j is sample j of prompt i, drawn from
 * sequenceRandom(promptSeed(seed, i), j): the same sequences
 * LocalGenerator.generate(prompts, {n, seed}) draws, and the same a request
 * for prompt i alone with seed promptSeed(seed, i) draws (what a fleet of
 * servers relies on: src/generate/fleet.ts). A request that fails or whose
 * client leaves aborts all its sequences, so their slots free at the next
 * step; so does the end of a shutdown's grace period (`cut`), which rejects
 * with ShutdownError.
 */
import { randomInt } from "node:crypto";
import { setMaxListeners } from "node:events";
import { promptSeed, sequenceRandom } from "../generate/sampling.ts";
import type { SequenceResult, TokenEvent } from "../generate/scheduler.ts";
import type { ServedTarget } from "./adapters.ts";
import { ShutdownError } from "./errors.ts";
import type { GenerationParams } from "./schemas.ts";
import type { ServedModel } from "./served-model.ts";

/** Callbacks and cancellation of one request. */
export interface ChoiceHooks {
  /** Aborted when the client goes away: every sequence of the request stops. */
  signal: AbortSignal;
  /** Aborted when the server's shutdown grace period ran out: the request ends early. */
  cut?: AbortSignal;
  /** After each token of choice `choice`. */
  onToken?: (choice: number, event: TokenEvent) => void;
}

/**
 * Runs prompts x n sequences on `target` (the base or an adapter, which it holds meanwhile, so an
 * unload frees it only after); resolves with the results in choice order, or rejects with the
 * first error (a ShutdownError when `cut` ended them).
 */
export async function generateChoices(
  model: ServedModel,
  target: ServedTarget,
  prompts: readonly Int32Array[],
  params: GenerationParams,
  hooks: ChoiceHooks,
): Promise<SequenceResult[]> {
  const release = target.hold();
  try {
    return await model.turns.generate(
      target.generator,
      () => runChoices(model, target, prompts, params, hooks),
      AbortSignal.any([hooks.signal, ...(hooks.cut ? [hooks.cut] : [])]),
    );
  } catch (err) {
    if (hooks.cut?.aborted && !hooks.signal.aborted) throw new ShutdownError();
    throw err;
  } finally {
    release();
  }
}

/** The sequences of one request on the target's generator, in its engine turn. */
async function runChoices(
  model: ServedModel,
  target: ServedTarget,
  prompts: readonly Int32Array[],
  params: GenerationParams,
  hooks: ChoiceHooks,
): Promise<SequenceResult[]> {
  const seed = params.seed ?? randomInt(2 ** 31);
  const stop = new AbortController();
  setMaxListeners(0, stop.signal); // each of the request's sequences listens to it
  const onClientGone = () => stop.abort(hooks.signal.reason);
  const onCut = () => stop.abort(new ShutdownError());
  if (hooks.signal.aborted) onClientGone();
  if (hooks.cut?.aborted) onCut();
  hooks.signal.addEventListener("abort", onClientGone, { once: true });
  hooks.cut?.addEventListener("abort", onCut, { once: true });
  try {
    const sequences = prompts.flatMap((prompt, i) =>
      Array.from({ length: params.n }, (_, j) => {
        const choice = i * params.n + j;
        return target.generator.submit({
          prompt,
          options: {
            temperature: params.temperature,
            topP: params.topP,
            topK: params.topK,
            minP: params.minP,
            maxTokens: params.maxTokens ?? model.contextLength - prompt.length,
            stop: params.stop,
            logprobs: params.logprobs !== null,
            topLogprobs: params.logprobs ?? 0,
          },
          random: sequenceRandom(promptSeed(seed, i), j),
          onToken: hooks.onToken && ((event) => hooks.onToken?.(choice, event)),
          signal: stop.signal,
        });
      }),
    );
    // The first failure stops the request's other sequences (their rejections are then expected).
    for (const s of sequences) s.catch((err) => stop.abort(err));
    return await Promise.all(sequences);
  } catch (err) {
    if (stop.signal.reason instanceof ShutdownError) throw stop.signal.reason;
    throw err;
  } finally {
    hooks.signal.removeEventListener("abort", onClientGone);
    hooks.cut?.removeEventListener("abort", onCut);
  }
}
