/**
 * Element types of safetensors files and the float conversions between
 * them: f16 and bf16 to f32 (exact), f32 to f16 and bf16 (rounded to nearest,
 * ties to even, as PyTorch's `.half()` / `.bfloat16()`).
 *
 * The conversions work on bit patterns through typed-array views: a 16-bit
 * float is a `Uint16Array` element, an f32 is read as its `Uint32Array` bits.
 * No allocation per element. safetensors data is little-endian, as are the
 * typed arrays of every platform Node runs on here; `assertLittleEndian`
 * makes that assumption explicit at the points where bytes meet typed arrays.
 */
import { endianness } from "node:os";

/** The dtypes reasonrl reads and writes (names as written in safetensors headers). */
export type StDType = "F32" | "F16" | "BF16" | "I32" | "I64" | "U8" | "BOOL";

/** Floating-point dtypes, the ones model weights use. */
export type FloatDType = "F32" | "F16" | "BF16";

/** Bytes per element of each dtype. */
export const ST_DTYPE_BYTES: Readonly<Record<StDType, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I32: 4,
  I64: 8,
  U8: 1,
  BOOL: 1,
};

/** Data of a tensor as typed arrays: F32 Float32Array; F16/BF16 bit patterns in Uint16Array; etc. */
export type TensorData = Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

/** True for the dtypes of `StDType`. */
export function isStDType(s: string): s is StDType {
  return Object.hasOwn(ST_DTYPE_BYTES, s);
}

/** True for F32, F16 and BF16. */
export function isFloatDType(s: string): s is FloatDType {
  return s === "F32" || s === "F16" || s === "BF16";
}

/** Throws on a big-endian machine, where typed-array views would misread safetensors data. */
export function assertLittleEndian(): void {
  if (endianness() !== "LE")
    throw new Error("reasonrl safetensors: this machine is big-endian; safetensors data is little-endian");
}

let f16Table: Float32Array | null = null;

/** f32 value of every f16 bit pattern, built once (256 KiB). */
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) {
      bits[h] = sign | 0x7f800000 | (mant << 13); // inf or NaN (payload kept)
    } else if (exp !== 0) {
      bits[h] = sign | ((exp + 112) << 23) | (mant << 13); // normal: rebias 15 -> 127
    } else {
      table[h] = (sign ? -1 : 1) * mant * 2 ** -24; // zero or subnormal: exact in f32
    }
  }
  f16Table = table;
  return table;
}

/** f16 bit patterns -> f32 values (exact). `out` defaults to a new array. */
export function f16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  checkLengths(src.length, out.length);
  const table = f16ToF32Table();
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

/** bf16 bit patterns -> f32 values (exact: bf16 is the top half of an f32). */
export function bf16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  checkLengths(src.length, out.length);
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

/** f32 values -> f16 bit patterns, rounded to nearest even; overflow gives ±inf, NaN stays NaN. */
export function f32ToF16(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  checkLengths(src.length, out.length);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const u = bits[i];
    const sign = (u >>> 16) & 0x8000;
    const a = u & 0x7fffffff;
    let h: number;
    if (a >= 0x47800000) {
      // |x| >= 2^16 (beyond f16 range even after rounding), inf or NaN
      h = a > 0x7f800000 ? 0x7e00 : 0x7c00;
    } else if (a >= 0x38800000) {
      // normal in f16: rebias the exponent, round away the low 13 mantissa bits
      h = (a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13; // a carry may reach inf: correct
    } else {
      // subnormal or zero in f16: value = m * 2^(e-150), f16 subnormal unit 2^-24
      const e = a >>> 23;
      const shift = 126 - e; // >= 14 here
      if (shift > 24) {
        h = 0;
      } else {
        const m = (a & 0x7fffff) | 0x800000;
        const q = m >>> shift;
        const rem = m & ((1 << shift) - 1);
        const half = 1 << (shift - 1);
        h = rem > half || (rem === half && q & 1) ? q + 1 : q;
      }
    }
    out[i] = sign | h;
  }
  return out;
}

/** f32 values -> bf16 bit patterns, rounded to nearest even; NaN stays a quiet NaN. */
export function f32ToBf16(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  checkLengths(src.length, out.length);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const u = bits[i];
    if ((u & 0x7fffffff) > 0x7f800000) out[i] = (u >>> 16) | 0x40;
    else out[i] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16; // overflow rounds to inf, as it should
  }
  return out;
}

/** Float data of a float dtype -> f32 (a copy for F32, so callers may mutate it). */
export function toFloat32(dtype: FloatDType, data: Float32Array | Uint16Array): Float32Array {
  if (dtype === "F32") {
    if (!(data instanceof Float32Array))
      throw new Error("reasonrl safetensors: F32 data must be a Float32Array");
    return data.slice();
  }
  if (!(data instanceof Uint16Array))
    throw new Error(`reasonrl safetensors: ${dtype} bit patterns must be a Uint16Array`);
  return dtype === "F16" ? f16ToF32(data) : bf16ToF32(data);
}

/** f32 values -> the representation of `dtype` (Float32Array for F32, Uint16Array bits otherwise). */
export function fromFloat32(dtype: FloatDType, data: Float32Array): Float32Array | Uint16Array {
  if (dtype === "F32") return data;
  return dtype === "F16" ? f32ToF16(data) : f32ToBf16(data);
}

function checkLengths(src: number, out: number): void {
  if (src !== out) throw new Error(`reasonrl safetensors: conversion of ${src} elements into ${out}`);
}
