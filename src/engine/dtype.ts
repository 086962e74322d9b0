/**
 * Element types. f32 is the compute type; f16 and bf16 are for storage and
 * loading (matrix products read them directly); q8_0 stores frozen weights in
 * blocks of 32 values (8-bit, one f16 scale per block: 34 bytes), quantized when
 * written, read by matrix products and embedding lookups; i32 holds token ids and indices.
 */
export type DType = "f32" | "f16" | "bf16" | "q8_0" | "i32";

/** ggml's enum values for each dtype (ggml.h, enum ggml_type). */
export const GGML_TYPE: Record<DType, number> = { f32: 0, f16: 1, q8_0: 8, i32: 26, bf16: 30 };

const FROM_GGML = new Map<number, DType>(Object.entries(GGML_TYPE).map(([k, v]) => [v, k as DType]));

/** The dtype of a ggml type id; throws for types reasonrl does not use. */
export function dtypeFromGgml(type: number): DType {
  const d = FROM_GGML.get(type);
  if (!d) throw new Error(`reasonrl engine: ggml type ${type} is not supported`);
  return d;
}

/** Bytes per element of the unquantized types. */
export const BYTES: Record<Exclude<DType, "q8_0">, number> = { f32: 4, f16: 2, bf16: 2, i32: 4 };

/** Values per q8_0 block and the bytes of one block (32 int8 values and an f16 scale). */
export const Q8_0_BLOCK = 32;
const Q8_0_BLOCK_BYTES = 34;

/** Bytes of `size` elements of `dtype` (for q8_0, `size` is a multiple of 32). */
export function storageBytes(dtype: DType, size: number): number {
  return dtype === "q8_0" ? (size / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES : size * BYTES[dtype];
}
