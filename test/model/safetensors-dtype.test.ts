import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "../../src/model/safetensors-dtype.ts";

const bitsOf = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];
const fromBits = (u: number) => new Float32Array(Uint32Array.of(u).buffer)[0];
const f16 = (x: number) => f32ToF16(Float32Array.of(x))[0];
const bf16 = (x: number) => f32ToBf16(Float32Array.of(x))[0];

describe("float conversions", () => {
  it("converts known values", () => {
    assert.equal(f16(1), 0x3c00);
    assert.equal(f16(-2), 0xc000);
    assert.equal(f16(0.1), 0x2e66);
    assert.equal(f16(65504), 0x7bff);
    assert.equal(f16(1e6), 0x7c00);
    assert.equal(f16(-Infinity), 0xfc00);
    assert.equal(f16(-0), 0x8000);
    assert.equal(f16(2 ** -24), 0x0001); // smallest subnormal
    assert.equal(f16(1e-8), 0);
    assert.equal(f16(fromBits(1)), 0); // an f32 subnormal
    assert.equal(bf16(1), 0x3f80);
    assert.equal(bf16(0.1), 0x3dcd);
    assert.equal(bf16(-Infinity), 0xff80);
    assert.equal(bf16(fromBits(0x7f7fffff)), 0x7f80); // f32 max rounds up to inf
    assert.ok(Number.isNaN(f16ToF32(Uint16Array.of(f16(Number.NaN)))[0]));
    assert.ok(Number.isNaN(bf16ToF32(Uint16Array.of(bf16(Number.NaN)))[0]));
  });

  it("round-trips every f16 and bf16 bit pattern through f32", () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const isNaN16 = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    const isNaNbf = (h: number) => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
    const back16 = f32ToF16(f16ToF32(all));
    const backBf = f32ToBf16(bf16ToF32(all));
    for (let h = 0; h < 65536; h++) {
      if (isNaN16(h)) assert.ok(isNaN16(back16[h]), `f16 NaN ${h.toString(16)}`);
      else assert.equal(back16[h], h, `f16 ${h.toString(16)}`);
      if (isNaNbf(h)) assert.ok(isNaNbf(backBf[h]), `bf16 NaN ${h.toString(16)}`);
      else assert.equal(backBf[h], h, `bf16 ${h.toString(16)}`);
    }
  });

  it("f32 -> f16 rounds to nearest, ties to even, at every midpoint", () => {
    for (let h = 0; h < 0x7c00; h++) {
      const a = f16ToF32(Uint16Array.of(h))[0];
      const b = f16ToF32(Uint16Array.of(h + 1))[0]; // 0x7c00 is inf: midpoint 65520
      const mid = h === 0x7bff ? 65520 : (a + b) / 2;
      const even = h % 2 === 0 ? h : h + 1;
      const m = bitsOf(mid);
      assert.equal(f16(mid), even, `tie above ${h.toString(16)}`);
      assert.equal(f16(fromBits(m - 1)), h, `below midpoint above ${h.toString(16)}`);
      assert.equal(f16(fromBits(m + 1)), h + 1, `above midpoint above ${h.toString(16)}`);
      assert.equal(f16(-mid), 0x8000 | even);
    }
  });

  it("f32 -> bf16 rounds to nearest, ties to even, at every midpoint", () => {
    for (let h = 0; h < 0x7f80; h++) {
      const m = (h << 16) | 0x8000;
      const even = h % 2 === 0 ? h : h + 1;
      assert.equal(bf16(fromBits(m)), even);
      assert.equal(bf16(fromBits(m - 1)), h);
      assert.equal(bf16(fromBits(m + 1)), h + 1);
    }
  });
});
