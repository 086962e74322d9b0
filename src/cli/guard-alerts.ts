/**
 * A guard's alert on the console (train, demo): one line, yellow for a
 * warning, red for a guard that stops the run; and what a run a guard stopped
 * kept. Colour only where the terminal takes it (picocolors: NO_COLOR,
 * FORCE_COLOR, a TTY).
 */
import pc from "picocolors";
import type { GuardAlert } from "../track/guards.ts";
import type { RunFolder, RunSummary } from "../train/run-folder.ts";

/** "guard length_limit: step 57: 34% of completions cut at 4096 tokens (12% at step 47); ...". */
export function guardAlertLine(alert: GuardAlert): string {
  if (alert.action === "stop")
    return pc.red(`guard ${alert.guard} (action stop: the run stops after this step): ${alert.message}`);
  return pc.yellow(`guard ${alert.guard}: ${alert.message}`);
}

/** What a run stopped by guard `alert` kept, and how to go on past it. */
export function describeGuardStop(
  alert: GuardAlert,
  s: RunSummary,
  folder: RunFolder,
  resume: string,
): string {
  const best = s.best
    ? `the best model (held-out ${(100 * s.best.accuracy).toFixed(1)}% after step ${s.best.step}) is in ${folder.bestDir}`
    : "no best model (the run has no held-out evaluation)";
  return (
    `stopped by guard ${alert.guard} after grpo step ${alert.step}: ${alert.message}\n` +
    `${best}; the checkpoint of step ${alert.step} is in ${folder.checkpointsOf("grpo")}/step-${alert.step}\n` +
    `to go on past it (the guard reports again only once it has cleared): ${resume}`
  );
}
