/**
 * Element types. f32 is the compute type; f16 and bf16 are for storage and
 * loading (matrix products read them directly); i32 holds token ids and indices.
 */
export type DType = "f32" | "f16" | "bf16" | "i32";

/** ggml's enum values for each dtype (ggml.h, enum ggml_type). */
export const GGML_TYPE: Record<DType, number> = { f32: 0, f16: 1, i32: 26, bf16: 30 };

const FROM_GGML = new Map<number, DType>(Object.entries(GGML_TYPE).map(([k, v]) => [v, k as DType]));

/** The dtype of a ggml type id; throws for types reasonrl does not use. */
export function dtypeFromGgml(type: number): DType {
  const d = FROM_GGML.get(type);
  if (!d) throw new Error(`reasonrl engine: ggml type ${type} is not supported`);
  return d;
}

/** Bytes per element. */
export const BYTES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, i32: 4 };
