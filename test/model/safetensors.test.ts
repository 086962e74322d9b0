import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SafetensorsFile } from "../../src/model/safetensors.ts";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "../../src/model/safetensors-dtype.ts";
import {
  INDEX_FILE,
  SafetensorsReader,
  writeSafetensorsSharded,
} from "../../src/model/safetensors-sharded.ts";
import { type TensorToWrite, writeSafetensors } from "../../src/model/safetensors-write.ts";

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "reasonrl-st-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("safetensors single file", () => {
  /** A file built by hand from the spec: u64 LE header length, space-padded JSON, data. */
  function specBytes(): Uint8Array {
    const json =
      '{"__metadata__":{"format":"pt"},' +
      '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"h":{"dtype":"F16","shape":[1,2],"data_offsets":[8,12]}}';
    const padded = json + " ".repeat((8 - (json.length % 8)) % 8);
    assert.equal((8 + padded.length) % 8, 0);
    const len = new Uint8Array(8);
    len[0] = padded.length & 0xff;
    len[1] = padded.length >> 8;
    // 1.0f, -2.0f, then f16 1.0 and 0.5, all little-endian
    const data = [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x3c, 0x00, 0x38];
    return Uint8Array.from([...len, ...new TextEncoder().encode(padded), ...data]);
  }

  it("writes exactly the bytes of the spec", async () => {
    const path = join(root, "spec.safetensors");
    await writeSafetensors(path, [
      ["w", { dtype: "F32", shape: [2], data: Float32Array.of(1, -2) }],
      ["h", { dtype: "F16", shape: [1, 2], data: Float32Array.of(1, 0.5) }],
    ]);
    assert.deepEqual(new Uint8Array(await readFile(path)), specBytes());
  });

  it("reads a hand-built file, header keys in any order", async () => {
    const path = join(root, "hand.safetensors");
    await writeFile(path, specBytes());
    const f = await SafetensorsFile.open(path);
    assert.deepEqual(f.metadata, { format: "pt" });
    assert.deepEqual([...f.tensors.keys()], ["w", "h"]);
    assert.deepEqual(f.entry("h").shape, [1, 2]);
    assert.deepEqual([...(await f.readFloat32("w"))], [1, -2]);
    assert.deepEqual([...(await f.readFloat32("h"))], [1, 0.5]);
    assert.deepEqual([...(await f.read("h"))], [0x3c00, 0x3800]);
    await f.close();

    // no metadata, data order unlike key order, newlines, padding
    const other = join(root, "other.safetensors");
    await writeFile(
      other,
      build(
        '{\n "b": {"data_offsets": [4, 5], "shape": [], "dtype": "U8"},\n "a": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}\n}',
        [7, 0, 0, 0, 9],
      ),
    );
    const g = await SafetensorsFile.open(other);
    assert.deepEqual(g.metadata, {});
    assert.deepEqual([...g.tensors.keys()], ["a", "b"]);
    assert.deepEqual([...(await g.read("a"))], [7]);
    assert.deepEqual([...(await g.read("b"))], [9]);
    await assert.rejects(g.readFloat32("a"), /tensor "a" is I32, not a float/);
    await assert.rejects(g.read("zz"), /other\.safetensors: no tensor "zz"/);
    await g.close();
  });

  it("round-trips every dtype, scalars and empty tensors", async () => {
    const f32 = Float32Array.of(0, -0, 1.5, -3.25e-7, 1e30, Number.POSITIVE_INFINITY, Number.NaN);
    const bits16 = Uint16Array.of(0, 1, 0x3c00, 0x7bff, 0xfc00, 0x8000);
    const tensors: Array<[string, TensorToWrite]> = [
      ["f32", { dtype: "F32", shape: [7], data: f32 }],
      ["f16_from_f32", { dtype: "F16", shape: [7], data: f32 }],
      ["bf16_from_f32", { dtype: "BF16", shape: [7, 1], data: f32 }],
      ["f16_bits", { dtype: "F16", shape: [2, 3], data: bits16 }],
      ["bf16_bits", { dtype: "BF16", shape: [3, 2], data: bits16 }],
      ["i32", { dtype: "I32", shape: [3], data: Int32Array.of(-1, 0, 2 ** 31 - 1) }],
      ["i64", { dtype: "I64", shape: [2], data: BigInt64Array.of(-(2n ** 63n), 2n ** 40n) }],
      ["u8", { dtype: "U8", shape: [1, 3], data: Uint8Array.of(0, 128, 255) }],
      ["bool", { dtype: "BOOL", shape: [2], data: Uint8Array.of(1, 0) }],
      ["scalar", { dtype: "F32", shape: [], data: Float32Array.of(42) }],
      ["empty", { dtype: "BF16", shape: [0, 3], data: new Uint16Array(0) }],
    ];
    const path = join(root, "all.safetensors");
    await writeSafetensors(path, tensors, { metadata: { note: "x" } });
    const f = await SafetensorsFile.open(path);
    assert.deepEqual(f.metadata, { format: "pt", note: "x" });
    const same = (a: ArrayLike<number>, b: ArrayLike<number>) =>
      assert.deepEqual(
        Array.from(a, (x) => (Number.isNaN(x) ? "NaN" : x)),
        Array.from(b, (x) => (Number.isNaN(x) ? "NaN" : x)),
      );
    same(await f.readFloat32("f32"), f32);
    assert.ok(Object.is((await f.readFloat32("f32"))[1], -0));
    same((await f.read("f16_from_f32")) as Uint16Array, f32ToF16(f32));
    same(await f.readFloat32("f16_from_f32"), f16ToF32(f32ToF16(f32)));
    same((await f.read("bf16_from_f32")) as Uint16Array, f32ToBf16(f32));
    same((await f.read("f16_bits")) as Uint16Array, bits16);
    same((await f.read("bf16_bits")) as Uint16Array, bits16);
    same(await f.readFloat32("bf16_bits"), bf16ToF32(bits16));
    same((await f.read("i32")) as Int32Array, [-1, 0, 2 ** 31 - 1]);
    assert.deepEqual([...((await f.read("i64")) as BigInt64Array)], [-(2n ** 63n), 2n ** 40n]);
    same((await f.read("u8")) as Uint8Array, [0, 128, 255]);
    same((await f.read("bool")) as Uint8Array, [1, 0]);
    same(await f.readFloat32("scalar"), [42]);
    assert.deepEqual(f.entry("scalar").shape, []);
    assert.equal((await f.read("empty")).length, 0);
    assert.deepEqual(f.entry("empty").shape, [0, 3]);
    await f.close();
  });

  it("rejects data that does not fit the dtype or shape, and duplicate names", async () => {
    const path = join(root, "bad-write.safetensors");
    const write = (t: TensorToWrite, name = "t") => writeSafetensors(path, [[name, t]]);
    await assert.rejects(
      write({ dtype: "F32", shape: [2], data: Uint16Array.of(1, 2) }),
      /tensor "t": Uint16Array cannot hold F32/,
    );
    await assert.rejects(
      write({ dtype: "F32", shape: [3], data: Float32Array.of(1, 2) }),
      /tensor "t": 2 elements for shape \[3\]/,
    );
    await assert.rejects(
      write({ dtype: "F32", shape: [1], data: Float32Array.of(1) }, "__metadata__"),
      /reserved/,
    );
    await assert.rejects(
      writeSafetensors(path, [
        ["a", { dtype: "U8", shape: [1], data: Uint8Array.of(1) }],
        ["a", { dtype: "U8", shape: [1], data: Uint8Array.of(1) }],
      ]),
      /tensor "a": given twice/,
    );
  });

  it("replaces a file atomically: a failed write leaves the old file and no temporary", async () => {
    const dir = await mkdtemp(join(root, "atomic-"));
    const path = join(dir, "m.safetensors");
    await writeSafetensors(path, [["a", { dtype: "F32", shape: [1], data: Float32Array.of(1) }]]);
    const before = await readFile(path);
    class Boom extends Float32Array {
      override subarray(): Float32Array<ArrayBuffer> {
        throw new Error("boom while converting");
      }
    }
    await assert.rejects(
      writeSafetensors(path, [["a", { dtype: "BF16", shape: [2], data: new Boom(2) }]]),
      /boom while converting/,
    );
    assert.deepEqual(await readFile(path), before);
    assert.deepEqual(await readdir(dir), ["m.safetensors"]);
  });
});

/** A file from a header text and data bytes (header padded to 8). */
function build(json: string, data: number[] | Uint8Array, headerLength?: bigint): Uint8Array {
  const padded = json + " ".repeat((8 - (json.length % 8)) % 8);
  const bytes = new TextEncoder().encode(padded);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, headerLength ?? BigInt(bytes.length), true);
  return Uint8Array.from([...len, ...bytes, ...data]);
}

describe("safetensors header validation", () => {
  const t = (name: string, dtype: string, shape: number[], begin: number, end: number) =>
    `"${name}":{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":[${begin},${end}]}`;
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ["truncated", Uint8Array.of(1, 2, 3), /truncated: 3 bytes, less than the 8-byte length/],
    [
      "header past end",
      build(`{${t("a", "U8", [1], 0, 1)}}`, [1], 1000n),
      /truncated: header of 1000 bytes runs past the end/,
    ],
    [
      "huge header length",
      build("{}", [], 2n ** 40n),
      /header length 1099511627776 is over the 100000000-byte limit/,
    ],
    ["bad JSON", build(`{${t("a", "U8", [1], 0, 1)}`, [1]), /header is not valid JSON/],
    ["not an object", build("[1, 2]", []), /header does not start with "\{"/],
    [
      "not UTF-8",
      Uint8Array.from([...build("{}", []).slice(0, 8), 0x7b, 0xff, 0x7d, 32, 32, 32, 32, 32]),
      /not valid UTF-8/,
    ],
    [
      "offsets out of range",
      build(`{${t("a", "U8", [1], 0, 1)},${t("b", "F32", [2], 1, 9)}}`, [1, 2, 3, 4]),
      /tensor "b": data_offsets \[1, 9\] run past the end of the data section \(4 bytes\)/,
    ],
    [
      "overlap",
      build(`{${t("a", "F32", [2], 0, 8)},${t("b", "F32", [1], 4, 8)}}`, new Uint8Array(8)),
      /tensors "a" and "b" overlap/,
    ],
    [
      "wrong size",
      build(`{${t("a", "F32", [3], 0, 8)}}`, new Uint8Array(8)),
      /tensor "a": data_offsets \[0, 8\] hold 8 bytes but dtype F32 with shape \[3\] needs 12/,
    ],
    [
      "gap",
      build(`{${t("a", "U8", [1], 0, 1)},${t("b", "U8", [1], 2, 3)}}`, [1, 2, 3]),
      /1 bytes before tensor "b" belong to no tensor \(a gap\)/,
    ],
    [
      "trailing bytes",
      build(`{${t("a", "U8", [1], 0, 1)}}`, [1, 2]),
      /1 bytes after the last tensor belong to no tensor/,
    ],
    [
      "duplicate name",
      build(`{${t("a", "U8", [1], 0, 1)},${t("a", "U8", [1], 0, 1)}}`, [1]),
      /tensor name "a" appears twice/,
    ],
    [
      "unsupported dtype",
      build(`{${t("a", "F64", [1], 0, 8)}}`, new Uint8Array(8)),
      /tensor "a": dtype F64 is not supported \(reasonrl reads F32, F16, BF16, I32, I64, U8, BOOL\)/,
    ],
    [
      "bad shape",
      build(`{${t("a", "U8", [-1], 0, 1)}}`, [1]),
      /tensor "a": field shape \[-1\] is not a list/,
    ],
    [
      "bad offsets",
      build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}}`, [1]),
      /tensor "a": field data_offsets \[1,0\]/,
    ],
    [
      "missing dtype",
      build(`{"a":{"shape":[1],"data_offsets":[0,1]}}`, [1]),
      /tensor "a": field dtype is missing/,
    ],
    [
      "bad metadata",
      build(`{"__metadata__":{"x":1},${t("a", "U8", [1], 0, 1)}}`, [1]),
      /field __metadata__\.x is not a string/,
    ],
  ];
  for (const [name, bytes, error] of cases) {
    it(`rejects a file with ${name}`, async () => {
      const path = join(root, `corrupt-${name.replaceAll(" ", "-")}.safetensors`);
      await writeFile(path, bytes);
      await assert.rejects(SafetensorsFile.open(path), (e: Error) => {
        assert.match(e.message, error);
        assert.ok(e.message.includes(path), `names the file: ${e.message}`);
        return true;
      });
    });
  }

  it("accepts escaped names and zero-size tensors between others", async () => {
    const path = join(root, "escaped.safetensors");
    const json = `{${t('a\\"b', "U8", [1], 0, 1)},${t("z", "U8", [0], 1, 1)},${t("c", "U8", [1], 1, 2)}}`;
    await writeFile(path, build(json, [5, 6]));
    const f = await SafetensorsFile.open(path);
    assert.deepEqual([...f.tensors.keys()], ['a"b', "z", "c"]);
    assert.deepEqual([...(await f.read("c"))], [6]);
    await f.close();
  });
});

describe("sharded safetensors", () => {
  const tensor = (k: number, n = 100): TensorToWrite => ({
    dtype: "F32",
    shape: [n],
    data: Float32Array.from({ length: n }, (_, i) => k * 1000 + i),
  });

  it("writes shards under the size limit with an index, and reads them back as one set", async () => {
    const dir = await mkdtemp(join(root, "shards-"));
    // 400 bytes each; the 1200-byte one exceeds the limit and gets a shard alone
    const list: Array<[string, TensorToWrite]> = [
      ["t.0", tensor(0)],
      ["t.1", tensor(1)],
      ["big", tensor(9, 300)],
      ["t.2", tensor(2)],
      ["t.3", tensor(3)],
      ["t.4", tensor(4)],
    ];
    const written = await writeSafetensorsSharded(dir, list, { maxShardBytes: 1000 });
    const shards = ["model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors"];
    shards.push("model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors");
    assert.deepEqual(written, [...shards, INDEX_FILE]);
    assert.deepEqual((await readdir(dir)).sort(), [...shards, INDEX_FILE].sort());
    const index = JSON.parse(await readFile(join(dir, INDEX_FILE), "utf8"));
    assert.deepEqual(index, {
      metadata: { total_size: 400 * 5 + 1200 },
      weight_map: {
        big: shards[1],
        "t.0": shards[0],
        "t.1": shards[0],
        "t.2": shards[2],
        "t.3": shards[2],
        "t.4": shards[3],
      },
    });
    assert.deepEqual(Object.keys(index.weight_map), ["big", "t.0", "t.1", "t.2", "t.3", "t.4"]);
    const r = await SafetensorsReader.open(dir);
    assert.deepEqual(r.names(), ["t.0", "t.1", "big", "t.2", "t.3", "t.4"]);
    for (const [name, t] of list) assert.deepEqual(await r.readFloat32(name), t.data);
    assert.equal(r.entry("t.4").file, join(dir, shards[3]));
    await r.close();
  });

  it("writes one model.safetensors when everything fits", async () => {
    const dir = await mkdtemp(join(root, "single-"));
    assert.deepEqual(await writeSafetensorsSharded(dir, [["a", tensor(0)]], { maxShardBytes: 1e9 }), [
      "model.safetensors",
    ]);
    const r = await SafetensorsReader.open(join(dir, "model.safetensors"));
    assert.deepEqual(r.names(), ["a"]);
    await r.close();
  });

  it("rejects an index that disagrees with its shards", async () => {
    const dir = await mkdtemp(join(root, "bad-index-"));
    const list: Array<[string, TensorToWrite]> = [
      ["a", tensor(0)],
      ["b", tensor(1)],
      ["c", tensor(2)],
    ];
    await writeSafetensorsSharded(dir, list, { maxShardBytes: 800 }); // [a, b], [c]
    const indexPath = join(dir, INDEX_FILE);
    const good = JSON.parse(await readFile(indexPath, "utf8"));
    const s1 = "model-00001-of-00002.safetensors";
    const s2 = "model-00002-of-00002.safetensors";
    const withMap = async (weight_map: Record<string, string>) =>
      writeFile(indexPath, JSON.stringify({ ...good, weight_map }));
    await withMap({ a: s1, b: s1, c: s2, d: s2 });
    await assert.rejects(
      SafetensorsReader.open(dir),
      /tensor "d" is not in model-00002-of-00002\.safetensors/,
    );
    await withMap({ a: s1, c: s2 });
    await assert.rejects(
      SafetensorsReader.open(dir),
      /index\.json: tensor "b" of .*model-00001-of-00002\.safetensors is not listed/,
    );
    await withMap({ a: s1, b: s2, c: s2 });
    await assert.rejects(
      SafetensorsReader.open(dir),
      /tensor "b" is listed in model-00002-of-00002\.safetensors but found in .*model-00001-of-00002/,
    );
    await withMap({ a: s1, b: s1, c: "../elsewhere.safetensors" });
    await assert.rejects(
      SafetensorsReader.open(dir),
      /weight_map\["c"\] = "\.\.\/elsewhere\.safetensors" is not a file name/,
    );
    await writeFile(indexPath, "{not json");
    await assert.rejects(SafetensorsReader.open(dir), /model\.safetensors\.index\.json: not valid JSON/);
    await assert.rejects(
      SafetensorsReader.open(join(root, "nowhere")),
      /has neither model\.safetensors\.index\.json nor model\.safetensors/,
    );
  });
});
