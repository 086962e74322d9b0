/**
 * A minimal Parquet writer for test fixtures (no Parquet writer is a dependency):
 * one row group, one uncompressed PLAIN data page (v1) per column, flat columns
 * of UTF-8 strings (BYTE_ARRAY) or 64-bit integers (INT64), each OPTIONAL so a
 * row may lack a value (null). The footer is Thrift's compact protocol, written
 * by hand for exactly the structures the format needs.
 */
import { writeFileSync } from "node:fs";

type Column = { name: string; type: "string" | "int64"; values: (string | number | null)[] };

/** Thrift compact protocol, the subset used by Parquet's footer and page headers. */
class Compact {
  private readonly bytes: number[] = [];
  private last: number[] = [0];

  varint(v: bigint | number): void {
    let x = BigInt(v);
    while (x >= 0x80n) {
      this.bytes.push(Number((x & 0x7fn) | 0x80n));
      x >>= 7n;
    }
    this.bytes.push(Number(x));
  }
  private zigzag(v: number | bigint): bigint {
    const x = BigInt(v);
    return x >= 0n ? x << 1n : (-x << 1n) - 1n;
  }
  private header(id: number, type: number): void {
    const delta = id - this.last[this.last.length - 1];
    if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type);
    else {
      this.bytes.push(type);
      this.varint(this.zigzag(id));
    }
    this.last[this.last.length - 1] = id;
  }
  i32(id: number, v: number): this {
    this.header(id, 5);
    this.varint(this.zigzag(v));
    return this;
  }
  i64(id: number, v: number): this {
    this.header(id, 6);
    this.varint(this.zigzag(v));
    return this;
  }
  binary(id: number, s: string): this {
    this.header(id, 8);
    const b = Buffer.from(s, "utf8");
    this.varint(b.length);
    this.bytes.push(...b);
    return this;
  }
  struct(id: number, body: (w: Compact) => void): this {
    this.header(id, 12);
    this.last.push(0);
    body(this);
    this.bytes.push(0);
    this.last.pop();
    return this;
  }
  /** A list of structs (element type 12), of i32 (5) or of strings (8). */
  list<T>(id: number, elemType: 5 | 8 | 12, items: T[], write: (w: Compact, item: T) => void): this {
    this.header(id, 9);
    if (items.length < 15) this.bytes.push((items.length << 4) | elemType);
    else {
      this.bytes.push(0xf0 | elemType);
      this.varint(items.length);
    }
    for (const item of items) {
      if (elemType === 12) {
        this.last.push(0);
        write(this, item);
        this.bytes.push(0);
        this.last.pop();
      } else write(this, item);
    }
    return this;
  }
  rawI32(v: number): void {
    this.varint(this.zigzag(v));
  }
  rawString(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.varint(b.length);
    this.bytes.push(...b);
  }
  end(): Buffer {
    this.bytes.push(0);
    return Buffer.from(this.bytes);
  }
}

/** Definition levels (0 = null, 1 = present) as RLE runs of the hybrid encoding, with their length prefix. */
function definitionLevels(present: boolean[]): Buffer {
  const out: number[] = [];
  for (let i = 0; i < present.length; ) {
    let j = i;
    while (j < present.length && present[j] === present[i]) j++;
    let run = (j - i) << 1; // RLE run header: count << 1
    while (run >= 0x80) {
      out.push((run & 0x7f) | 0x80);
      run >>>= 7;
    }
    out.push(run, present[i] ? 1 : 0);
    i = j;
  }
  const len = Buffer.alloc(4);
  len.writeUInt32LE(out.length);
  return Buffer.concat([len, Buffer.from(out)]);
}

function plainValues(col: Column): Buffer {
  const parts: Buffer[] = [];
  for (const v of col.values) {
    if (v === null) continue;
    if (col.type === "string") {
      const b = Buffer.from(String(v), "utf8");
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      parts.push(len, b);
    } else {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt(v));
      parts.push(b);
    }
  }
  return Buffer.concat(parts);
}

/** Writes `columns` (all of the same length) as a Parquet file at `path`. */
export function writeParquetFixture(path: string, columns: Column[]): void {
  const rows = columns[0]?.values.length ?? 0;
  const chunks: Buffer[] = [Buffer.from("PAR1")];
  let offset = 4;
  const meta: { col: Column; offset: number; size: number }[] = [];
  for (const col of columns) {
    const data = Buffer.concat([definitionLevels(col.values.map((v) => v !== null)), plainValues(col)]);
    const header = new Compact()
      .i32(1, 0) // type DATA_PAGE
      .i32(2, data.length) // uncompressed_page_size
      .i32(3, data.length) // compressed_page_size
      .struct(5, (w) => {
        w.i32(1, rows) // num_values
          .i32(2, 0) // encoding PLAIN
          .i32(3, 3) // definition_level_encoding RLE
          .i32(4, 3); // repetition_level_encoding RLE
      })
      .end();
    chunks.push(header, data);
    meta.push({ col, offset, size: header.length + data.length });
    offset += header.length + data.length;
  }
  const footer = new Compact()
    .i32(1, 1) // version
    .list(2, 12, [null, ...columns], (w, col) => {
      if (col === null) w.binary(4, "schema").i32(5, columns.length);
      else {
        w.i32(1, col.type === "string" ? 6 : 2) // BYTE_ARRAY or INT64
          .i32(3, 1) // OPTIONAL
          .binary(4, col.name);
        if (col.type === "string") w.i32(6, 0); // converted type UTF8
      }
    })
    .i64(3, rows)
    .list(4, 12, [0], (w) => {
      w.list(1, 12, meta, (c, m) => {
        c.i64(2, m.offset).struct(3, (md) => {
          md.i32(1, m.col.type === "string" ? 6 : 2)
            .list(2, 5, [0, 3], (x, e) => x.rawI32(e))
            .list(3, 8, [m.col.name], (x, s) => x.rawString(s))
            .i32(4, 0) // UNCOMPRESSED
            .i64(5, rows)
            .i64(6, m.size)
            .i64(7, m.size)
            .i64(9, m.offset);
        });
      })
        .i64(2, offset - 4)
        .i64(3, rows);
    })
    .end();
  const len = Buffer.alloc(4);
  len.writeUInt32LE(footer.length);
  chunks.push(footer, len, Buffer.from("PAR1"));
  writeFileSync(path, Buffer.concat(chunks));
}
