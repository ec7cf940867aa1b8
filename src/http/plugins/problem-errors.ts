import type { FastifyError, FastifyInstance } from "fastify";
import { ErrorCode, FleetwayError } from "../../engine/errors.js";
import { ERROR_STATUS, statusOf } from "../error-status.js";
import { problem, sendProblem } from "../problem.js";

/**
 * Every error leaves as application/problem+json with a stable code. Fleetway's own errors keep
 * their message and data; Fastify's validation and framework errors are mapped; anything else is
 * a 500 with a generic message, the details only in the log (5xx never leaks internals).
 */
export function registerProblemErrors(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | FleetwayError | Error, request, reply) => {
    const instance = request.url.split("?")[0];
    // A code without a status in ERROR_STATUS is one no route means to answer with (a runner
    // error reaching a route): a 500 like any other, its message and data only in the log.
    if (error instanceof FleetwayError && error.code in ERROR_STATUS) {
      const status = statusOf(error.code);
      if (status >= 500) request.log.warn({ err: error }, "request failed");
      return sendProblem(reply, problem(status, error.code, error.message, error.data, instance));
    }
    const fastifyError = error as FastifyError;
    if (fastifyError.validation !== undefined) {
      return sendProblem(
        reply,
        problem(
          400,
          ErrorCode.VALIDATION_ERROR,
          `Invalid request: ${fastifyError.message}`,
          {
            errors: fastifyError.validation.map((v) => ({
              path: v.instancePath,
              message: v.message ?? "",
            })),
          },
          instance,
        ),
      );
    }
    const status = fastifyError.statusCode ?? 500;
    if (status === 413 || fastifyError.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return sendProblem(
        reply,
        problem(
          413,
          ErrorCode.PAYLOAD_TOO_LARGE,
          "The request body is too large",
          undefined,
          instance,
        ),
      );
    }
    if (status === 429) {
      return sendProblem(
        reply,
        problem(429, ErrorCode.RATE_LIMITED, "Too many requests; slow down", undefined, instance),
      );
    }
    if (status >= 400 && status < 500) {
      return sendProblem(
        reply,
        problem(status, ErrorCode.VALIDATION_ERROR, fastifyError.message, undefined, instance),
      );
    }
    request.log.error({ err: error }, "unhandled error");
    return sendProblem(
      reply,
      problem(
        500,
        ErrorCode.INTERNAL_ERROR,
        "Internal error; see the server log",
        undefined,
        instance,
      ),
    );
  });
  app.setNotFoundHandler((request, reply) => {
    return sendProblem(
      reply,
      problem(
        404,
        ErrorCode.NOT_FOUND,
        `No route ${request.method} ${request.url.split("?")[0] ?? ""}`,
      ),
    );
  });
}
