/**
 * Errors of the HTTP API, in OpenAI's shape:
 * `{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`.
 * Handlers throw ApiError; the app's error handler turns it into a response.
 */
import type { z } from "zod";

/** OpenAI's error types (the `type` field). */
export type ApiErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "not_found_error"
  | "server_error";

/** The body of an error response. */
export interface ErrorBody {
  error: { message: string; type: ApiErrorType; param: string | null; code: string | null };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ApiErrorType = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }

  body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  /** A 400 for a bad field value. */
  static invalid(param: string | null, message: string, code: string | null = null): ApiError {
    return new ApiError(400, message, "invalid_request_error", param, code);
  }
}

/** A 400 naming the first problem zod found (its path as `param`). */
export function fromZodError(error: z.ZodError): ApiError {
  const issue = error.issues[0];
  const param = issue?.path.length ? issue.path.join(".") : null;
  const where = param ? `${param}: ` : "";
  return ApiError.invalid(param, `${where}${issue?.message ?? "invalid request"}`, "invalid_value");
}

/**
 * A 503: the server is shutting down. Refused requests get it at once; a non-streaming request
 * still generating when the grace period ends gets it then (a stream ends with a final chunk instead).
 */
export class ShutdownError extends ApiError {
  constructor(
    message = "The server shut down before this request finished; send it again once the server is back.",
  ) {
    super(503, message, "server_error", null, "server_shutting_down");
    this.name = "ShutdownError";
  }
}

/** A 500 for an unexpected failure (the engine's error message is passed on). */
export function serverError(err: unknown): ApiError {
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(
    500,
    `the server failed to generate: ${message}`,
    "server_error",
    null,
    "internal_error",
  );
}
