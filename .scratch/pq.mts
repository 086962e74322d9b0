import { encodeParquet } from "../src/data/parquet-write.ts";
import { writeFileSync } from "node:fs";
import { parquetReadObjects, asyncBufferFromFile } from "hyparquet";
const recs = [{ id: "a", n: 1, x: 1.5, b: true, m: "s", o: { level: 4, pool: "hard" } }, { id: "b", n: 2, x: 2, m: 3, b: null }];
writeFileSync("/tmp/t.parquet", encodeParquet(recs));
console.log(await parquetReadObjects({ file: await asyncBufferFromFile("/tmp/t.parquet") }));
writeFileSync("/tmp/e.parquet", encodeParquet([], ["id", "problem"]));
console.log(await parquetReadObjects({ file: await asyncBufferFromFile("/tmp/e.parquet") }));
