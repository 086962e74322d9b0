/**
 * Exact rational numbers over bigint, the first rung of the verifier's equality
 * ladder. Every operation guards the size of what it builds, so adversarial
 * inputs (10^10^10^10, 100,000-digit numbers) degrade to "cannot say exactly"
 * (null) instead of exhausting memory or time.
 */

/** Numbers with more bits than this are not built exactly (about 20,000 decimal digits). */
export const MAX_EXACT_BITS = 65_536;

function bitLength(n: bigint): number {
  if (n < 0n) n = -n;
  return n === 0n ? 0 : n.toString(16).length * 4;
}

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** An exact fraction num/den, always reduced, den > 0. */
export class Rational {
  readonly num: bigint;
  readonly den: bigint;

  private constructor(num: bigint, den: bigint) {
    this.num = num;
    this.den = den;
  }

  /** Builds num/den reduced; returns null for a zero denominator or an oversized result. */
  static of(num: bigint, den: bigint = 1n): Rational | null {
    if (den === 0n) return null;
    if (den < 0n) {
      num = -num;
      den = -den;
    }
    const g = gcd(num, den);
    if (g > 1n) {
      num /= g;
      den /= g;
    }
    if (bitLength(num) > MAX_EXACT_BITS || bitLength(den) > MAX_EXACT_BITS) return null;
    return new Rational(num, den);
  }

  static readonly ZERO = new Rational(0n, 1n);
  static readonly ONE = new Rational(1n, 1n);

  /** Integer from a JS number (must be a safe integer). */
  static int(n: number): Rational {
    return new Rational(BigInt(n), 1n);
  }

  /**
   * Parses a plain decimal literal: "12", "-0.25", ".5", "1.5e-3". Returns null when
   * the text is not such a literal or the value is too large to hold exactly.
   */
  static parseDecimal(text: string): Rational | null {
    const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
    if (!m || (m[2] === "" && (m[3] ?? "") === "")) return null;
    const intPart = m[2] || "0";
    const frac = m[3] ?? "";
    const exp = m[4] ? Number(m[4]) : 0;
    if (!Number.isFinite(exp) || Math.abs(exp) > 20_000) return null;
    if (intPart.length + frac.length > 20_000) return null;
    let num = BigInt(intPart + frac);
    let den = 10n ** BigInt(frac.length);
    if (exp > 0) num *= 10n ** BigInt(exp);
    else if (exp < 0) den *= 10n ** BigInt(-exp);
    if (m[1] === "-") num = -num;
    return Rational.of(num, den);
  }

  isZero(): boolean {
    return this.num === 0n;
  }
  isInteger(): boolean {
    return this.den === 1n;
  }
  sign(): number {
    return this.num === 0n ? 0 : this.num > 0n ? 1 : -1;
  }

  add(o: Rational): Rational | null {
    return Rational.of(this.num * o.den + o.num * this.den, this.den * o.den);
  }
  sub(o: Rational): Rational | null {
    return Rational.of(this.num * o.den - o.num * this.den, this.den * o.den);
  }
  mul(o: Rational): Rational | null {
    return Rational.of(this.num * o.num, this.den * o.den);
  }
  div(o: Rational): Rational | null {
    return Rational.of(this.num * o.den, this.den * o.num);
  }
  neg(): Rational {
    return new Rational(-this.num, this.den);
  }
  abs(): Rational {
    return this.num < 0n ? this.neg() : this;
  }

  /** Integer power; null when the result would be oversized or is undefined (0^-n). */
  pow(e: bigint): Rational | null {
    if (e === 0n) return Rational.ONE;
    if (this.num === 0n) return e > 0n ? Rational.ZERO : null;
    if (this.num === this.den) return Rational.ONE;
    if (this.num === -this.den) return e % 2n === 0n ? Rational.ONE : this;
    const mag = e < 0n ? -e : e;
    const bits = Math.max(bitLength(this.num), bitLength(this.den));
    if (mag > BigInt(MAX_EXACT_BITS) || Number(mag) * bits > MAX_EXACT_BITS) return null;
    const n = this.num ** mag;
    const d = this.den ** mag;
    return e > 0n ? Rational.of(n, d) : Rational.of(d, n);
  }

  /** Exact rational root if it exists (e.g. sqrt(9/4) = 3/2), else null. */
  root(k: number): Rational | null {
    if (k < 1 || !Number.isInteger(k)) return null;
    if (this.num < 0n) {
      if (k % 2 === 0) return null;
      const r = this.neg().root(k);
      return r ? r.neg() : null;
    }
    const rn = intRoot(this.num, k);
    const rd = intRoot(this.den, k);
    if (rn === null || rd === null) return null;
    return Rational.of(rn, rd);
  }

  cmp(o: Rational): number {
    const l = this.num * o.den;
    const r = o.num * this.den;
    return l === r ? 0 : l < r ? -1 : 1;
  }
  equals(o: Rational): boolean {
    return this.num === o.num && this.den === o.den;
  }

  /** Nearest double (may be ±Infinity or 0 for extreme values). */
  toNumber(): number {
    if (this.den === 1n) return Number(this.num);
    const nb = bitLength(this.num);
    const db = bitLength(this.den);
    if (nb < 1000 && db < 1000) return Number(this.num) / Number(this.den);
    // Scale both to ~64 significant bits before dividing.
    const shiftN = Math.max(0, nb - 64);
    const shiftD = Math.max(0, db - 64);
    const n = Number(this.num >> BigInt(shiftN));
    const d = Number(this.den >> BigInt(shiftD));
    return (n / d) * 2 ** (shiftN - shiftD);
  }

  /** "3", "-1/2". */
  toString(): string {
    return this.den === 1n ? this.num.toString() : `${this.num}/${this.den}`;
  }
}

/** Exact integer k-th root of a non-negative bigint, or null when not a perfect power. */
function intRoot(n: bigint, k: number): bigint | null {
  if (n < 2n || k === 1) return n;
  if (bitLength(n) > 8192) return null;
  const K = BigInt(k);
  // Newton iteration from an over-estimate converges monotonically down to floor(n^(1/k)).
  let x = 1n << BigInt(Math.ceil(bitLength(n) / k) + 1);
  for (;;) {
    const y = ((K - 1n) * x + n / x ** (K - 1n)) / K;
    if (y >= x) break;
    x = y;
  }
  return x ** K === n ? x : null;
}
