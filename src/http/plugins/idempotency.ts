import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Queryable } from "../../control/queryable.js";
import {
  claimIdempotencyKey,
  releaseIdempotencyKey,
  storeIdempotentResponse,
} from "../../control/idempotency-store.js";
import { ErrorCode, FleetwayError } from "../../engine/errors.js";

declare module "fastify" {
  interface FastifyRequest {
    idempotencyKey: string | null;
  }
}

/** Response headers worth replaying; others (date, request id) belong to the new response. */
const REPLAYED_HEADERS = ["location", "content-type"];

/**
 * `Idempotency-Key` on POST: the first request with a key runs and its response is stored; a
 * retry with the same key and body gets that response again (with `Idempotency-Replayed: true`);
 * the same key with another body is refused with 422; a retry while the first is still running
 * gets 409. Keys are scoped per API key. A 5xx is not stored, so the client may retry.
 */
export function registerIdempotency(app: FastifyInstance, db: Queryable): void {
  app.decorateRequest("idempotencyKey", null);
  app.addHook("preHandler", async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== "POST") return;
    const key = request.headers["idempotency-key"];
    if (typeof key !== "string" || key === "" || request.principal === null) return;
    if (key.length > 255) {
      throw new FleetwayError(
        ErrorCode.VALIDATION_ERROR,
        "Idempotency-Key must be at most 255 characters",
      );
    }
    const path = request.url;
    const requestHash = createHash("sha256")
      .update(`${request.method} ${path}\n${JSON.stringify(request.body ?? null)}`)
      .digest("hex");
    const claim = await claimIdempotencyKey(db, {
      principal: request.principal.name,
      key,
      method: request.method,
      path,
      requestHash,
    });
    switch (claim.kind) {
      case "new":
        request.idempotencyKey = key;
        return;
      case "mismatch":
        throw new FleetwayError(
          ErrorCode.IDEMPOTENCY_KEY_REUSED,
          "This Idempotency-Key was used with a different request; use a new key for a new request",
          { idempotencyKey: key },
        );
      case "in-progress":
        throw new FleetwayError(
          ErrorCode.IDEMPOTENCY_IN_PROGRESS,
          "A request with this Idempotency-Key is still being processed; retry later",
          { idempotencyKey: key },
        );
      case "replay": {
        const { response } = claim;
        for (const [name, value] of Object.entries(response.headers)) reply.header(name, value);
        await reply
          .header("idempotency-replayed", "true")
          .status(response.statusCode)
          .send(response.body);
        return reply;
      }
    }
  });
  app.addHook("onSend", async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const key = request.idempotencyKey;
    if (key === null || request.principal === null) return payload;
    request.idempotencyKey = null;
    if (reply.statusCode >= 500) {
      await releaseIdempotencyKey(db, request.principal.name, key);
      return payload;
    }
    const headers: Record<string, string> = {};
    for (const name of REPLAYED_HEADERS) {
      const value = reply.getHeader(name);
      if (typeof value === "string") headers[name] = value;
    }
    let body: unknown = payload;
    if (typeof payload === "string") {
      try {
        body = JSON.parse(payload);
      } catch {
        body = payload;
      }
    }
    await storeIdempotentResponse(db, request.principal.name, key, {
      statusCode: reply.statusCode,
      headers,
      body,
    });
    return payload;
  });
}
