/**
 * vLLM's runtime LoRA endpoints (vLLM v0.6.1+, vllm-project/vllm#6566; there behind
 * `--enable-lora` and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, here always on and behind
 * the server's API key like every /v1 route):
 *
 *   POST /v1/load_lora_adapter   {"lora_name": NAME, "lora_path": DIR}
 *        200 text "Success: LoRA adapter 'NAME' added successfully." once requests can name it;
 *        400 when NAME is taken or DIR does not fit the base, 404 when DIR holds no adapter.
 *   POST /v1/unload_lora_adapter {"lora_name": NAME}
 *        200 text "Success: LoRA adapter 'NAME' removed successfully."; 404 for an unknown NAME.
 *
 * The answers' status codes and messages are vLLM's (serving_models.py); the error bodies
 * are this server's OpenAI-shaped ones.
 */
import type { Hono } from "hono";
import { LoadAdapterRequest, parseBody, UnloadAdapterRequest } from "./schemas.ts";
import type { ServedModel } from "./served-model.ts";

/** Registers the two routes on `app`; `jsonBody` reads a request's JSON (a 400 when it is not). */
export function adapterRoutes(
  app: Hono,
  model: ServedModel,
  jsonBody: (request: Request) => Promise<unknown>,
): void {
  app.post("/v1/load_lora_adapter", async (c) => {
    const req = parseBody(LoadAdapterRequest, await jsonBody(c.req.raw));
    await model.adapters.load(req.lora_name, req.lora_path);
    return c.text(`Success: LoRA adapter '${req.lora_name}' added successfully.`);
  });
  app.post("/v1/unload_lora_adapter", async (c) => {
    const req = parseBody(UnloadAdapterRequest, await jsonBody(c.req.raw));
    model.adapters.unload(req.lora_name);
    return c.text(`Success: LoRA adapter '${req.lora_name}' removed successfully.`);
  });
}
