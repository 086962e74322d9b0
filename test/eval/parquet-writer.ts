/**
 * A minimal Parquet writer for test fixtures (no Parquet writer is installed):
 * one row group, REQUIRED columns of UTF-8 strings or doubles, PLAIN
 * encoding, no compression, one data page per column, the footer in Thrift's
 * compact protocol. Enough for hyparquet to read back what the hub serves.
 */

/** Thrift compact-protocol output. */
class Compact {
  readonly bytes: number[] = [];
  #last: number[] = [0];

  varint(v: bigint): void {
    let x = v;
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) b |= 0x80;
      this.bytes.push(b);
    } while (x > 0n);
  }
  zigzag(v: number): void {
    const x = BigInt(v);
    this.varint(x >= 0n ? x << 1n : (-x << 1n) - 1n);
  }
  field(id: number, type: number): void {
    const delta = id - (this.#last[this.#last.length - 1] ?? 0);
    if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type);
    else {
      this.bytes.push(type);
      this.zigzag(id);
    }
    this.#last[this.#last.length - 1] = id;
  }
  i32(id: number, v: number): void {
    this.field(id, 5);
    this.zigzag(v);
  }
  i64(id: number, v: number): void {
    this.field(id, 6);
    this.zigzag(v);
  }
  binary(id: number, s: string): void {
    this.field(id, 8);
    this.rawBinary(s);
  }
  rawBinary(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.varint(BigInt(b.length));
    this.bytes.push(...b);
  }
  list(id: number, elemType: number, size: number): void {
    this.field(id, 9);
    if (size < 15) this.bytes.push((size << 4) | elemType);
    else {
      this.bytes.push(0xf0 | elemType);
      this.varint(BigInt(size));
    }
  }
  /** A struct as a field (id) or as a list element (id undefined). */
  struct(id: number | undefined, body: () => void): void {
    if (id !== undefined) this.field(id, 12);
    this.#last.push(0);
    body();
    this.bytes.push(0);
    this.#last.pop();
  }
}

/** A column: its name and values (all strings, or all numbers as doubles). */
export interface FixtureColumn {
  name: string;
  values: Array<string> | Array<number>;
}

const BYTE_ARRAY = 6;
const DOUBLE = 5;

/** The bytes of a Parquet file holding `columns` (all of the same length). */
export function writeParquet(columns: readonly FixtureColumn[]): Buffer {
  const rows = columns[0]?.values.length ?? 0;
  const chunks: Buffer[] = [Buffer.from("PAR1")];
  let offset = 4;
  const metas: Array<{ name: string; type: number; offset: number; size: number }> = [];
  for (const col of columns) {
    const isString = typeof col.values[0] === "string";
    const data = isString
      ? Buffer.concat(
          (col.values as string[]).map((s) => {
            const b = Buffer.from(s, "utf8");
            const len = Buffer.alloc(4);
            len.writeUInt32LE(b.length);
            return Buffer.concat([len, b]);
          }),
        )
      : Buffer.concat(
          (col.values as number[]).map((x) => {
            const b = Buffer.alloc(8);
            b.writeDoubleLE(x);
            return b;
          }),
        );
    const header = new Compact();
    header.struct(undefined, () => {
      header.i32(1, 0); // DATA_PAGE
      header.i32(2, data.length);
      header.i32(3, data.length);
      header.struct(5, () => {
        header.i32(1, rows);
        header.i32(2, 0); // PLAIN
        header.i32(3, 3); // RLE
        header.i32(4, 3); // RLE
      });
    });
    const page = Buffer.concat([Buffer.from(header.bytes), data]);
    metas.push({ name: col.name, type: isString ? BYTE_ARRAY : DOUBLE, offset, size: page.length });
    chunks.push(page);
    offset += page.length;
  }
  const footer = new Compact();
  footer.struct(undefined, () => {
    footer.i32(1, 1);
    footer.list(2, 12, columns.length + 1);
    footer.struct(undefined, () => {
      footer.binary(4, "schema");
      footer.i32(5, columns.length);
    });
    for (const m of metas) {
      footer.struct(undefined, () => {
        footer.i32(1, m.type);
        footer.i32(3, 0); // REQUIRED
        footer.binary(4, m.name);
        if (m.type === BYTE_ARRAY) footer.i32(6, 0); // UTF8
      });
    }
    footer.i64(3, rows);
    footer.list(4, 12, 1);
    footer.struct(undefined, () => {
      footer.list(1, 12, metas.length);
      for (const m of metas) {
        footer.struct(undefined, () => {
          footer.i64(2, m.offset);
          footer.struct(3, () => {
            footer.i32(1, m.type);
            footer.list(2, 5, 1);
            footer.zigzag(0); // PLAIN
            footer.list(3, 8, 1);
            footer.rawBinary(m.name);
            footer.i32(4, 0); // UNCOMPRESSED
            footer.i64(5, rows);
            footer.i64(6, m.size);
            footer.i64(7, m.size);
            footer.i64(9, m.offset);
          });
        });
      }
      footer.i64(
        2,
        metas.reduce((a, m) => a + m.size, 0),
      );
      footer.i64(3, rows);
    });
  });
  const meta = Buffer.from(footer.bytes);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(meta.length);
  chunks.push(meta, len, Buffer.from("PAR1"));
  return Buffer.concat(chunks);
}
