/**
 * The verifier benchmark as a script: `node --import tsx bench/verify.ts`
 * (the same as `reasonrl bench verify`). Last line: one JSON object.
 */
import { describeVerifyBench, runVerifyBench } from "../src/verify/bench.ts";

const result = await runVerifyBench();
console.log(describeVerifyBench(result));
console.log(JSON.stringify(result));
