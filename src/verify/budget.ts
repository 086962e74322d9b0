/**
 * A cooperative time budget for one comparison. Loops in the evaluator and the
 * matcher call `check()`; past the deadline it throws VerifyTimeout, which the
 * caller turns into "not equal". (The worker pool adds a hard limit on top, for
 * work that never reaches a check.)
 */

/** Thrown when a comparison runs past its deadline. */
export class VerifyTimeout extends Error {
  constructor() {
    super("comparison timed out");
  }
}

export class Budget {
  private counter = 0;

  /** `deadline` is a performance.now() timestamp; Infinity for no limit. */
  constructor(readonly deadline: number) {}

  /** Budget of `ms` milliseconds from now (no limit for a non-finite or non-positive `ms`). */
  static ms(ms: number): Budget {
    return new Budget(Number.isFinite(ms) && ms > 0 ? performance.now() + ms : Number.POSITIVE_INFINITY);
  }

  /** Throws VerifyTimeout once the deadline has passed (checks the clock every 64 calls). */
  check(): void {
    if ((++this.counter & 63) === 0 && performance.now() > this.deadline) throw new VerifyTimeout();
  }

  /** Checks the clock now. */
  checkNow(): void {
    if (performance.now() > this.deadline) throw new VerifyTimeout();
  }
}
