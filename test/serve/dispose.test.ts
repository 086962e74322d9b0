/** The served model's native resources: released by dispose() after the server closes, then unusable. */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ServedModel } from "../../src/serve/served-model.ts";
import { post, serveTiny, tinyModelFolder } from "./helpers.ts";

const folder = await tinyModelFolder();
after(() => folder.cleanup());

test("close the server, dispose the model: the engine is freed and later use throws", async () => {
  const { model, server } = await serveTiny(folder.dir, { maxBatch: 2 });
  const r = await post(server, "/v1/completions", { prompt: "1+1=", max_tokens: 3, temperature: 0 });
  assert.equal(r.status, 200);
  await server.close();
  await model.dispose();
  assert.equal(model.engine.disposed, true);
  await model.dispose(); // idempotent
  await assert.rejects(
    model.generator.submit({ prompt: model.encode("1+1="), options: { maxTokens: 2 } }),
    /disposed/,
  );
});

test("await using releases the model at the end of its scope", async () => {
  let engineOf: ServedModel["engine"] | undefined;
  {
    await using model = await ServedModel.load(folder.dir, { threads: 1, maxBatch: 1 });
    engineOf = model.engine;
    assert.equal(engineOf.disposed, false);
  }
  assert.equal(engineOf.disposed, true);
});

test("a context the model cannot hold is refused, and the engine of the failed load is freed", async () => {
  await assert.rejects(
    ServedModel.load(folder.dir, { threads: 1, context: 1_000_000 }),
    /the context must be/,
  );
});
