import { Worker } from "node:worker_threads";
const api = import.meta.resolve("tsx/esm/api");
const target = new URL("./_w.ts", import.meta.url).href;
const code = `import { register } from ${JSON.stringify(api)}; register(); await import(${JSON.stringify(target)});`;
const t0 = performance.now();
const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { execArgv: [] });
w.on("message", (m) => { console.log("got", m, performance.now() - t0); w.terminate(); });
w.on("error", (e) => console.log("err", e));
