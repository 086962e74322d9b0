/**
 * The API key check of /v1/*: `Authorization: Bearer KEY`, compared in
 * constant time. A request without a key is told the key is missing; one with
 * another key is told it is not this server's (both 401, OpenAI's error body).
 */
import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { ApiError } from "./errors.ts";

/** Middleware that lets a request on only when it carries `apiKey` as a bearer token. */
export function requireApiKey(apiKey: string): MiddlewareHandler {
  const expected = Buffer.from(`Bearer ${apiKey}`);
  return async (c, next) => {
    const header = c.req.header("authorization");
    if (!header?.trim())
      throw new ApiError(
        401,
        "No API key was sent, and this server requires one. Send it in the Authorization header " +
          "as 'Bearer YOUR_KEY' (the key the server was started with, `reasonrl serve --api-key`).",
        "invalid_request_error",
        null,
        "missing_api_key",
      );
    const given = Buffer.from(header);
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new ApiError(
        401,
        "The API key sent is not this server's. Check the 'Authorization: Bearer YOUR_KEY' header.",
        "invalid_request_error",
        null,
        "invalid_api_key",
      );
    await next();
  };
}
