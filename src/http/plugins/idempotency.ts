import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Queryable } from "../../control/queryable.js";
import type { SecretBox } from "../../control/secret-box.js";
import {
  claimIdempotencyKey,
  releaseIdempotencyKey,
  storeIdempotentResponse,
  type IdempotencyOwner,
} from "../../control/idempotency-store.js";
import { ErrorCode, FleetwayError } from "../../engine/errors.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Set while this request owns its Idempotency-Key and has still to store its response. */
    idempotencyOwner: IdempotencyOwner | null;
  }
}

/** Response headers worth replaying; others (date, request id) belong to the new response. */
const REPLAYED_HEADERS = ["location", "content-type"];

/**
 * `Idempotency-Key` on POST: the first request with a key runs and its response is stored; a
 * retry with the same key and body gets that response again (with `Idempotency-Replayed: true`);
 * the same key with another body is refused with 422; a retry while the first is still running
 * gets 409. Keys are scoped per API key. A 5xx is not stored, so the client may retry; nor is a
 * response whose storing failed (the claim is released). A claim left by a request that never
 * finished (its process died) is taken over by a retry once its lease has passed, and keys are
 * forgotten after their retention. Stored bodies are sealed (idempotency-store.ts).
 */
export function registerIdempotency(app: FastifyInstance, db: Queryable, box: SecretBox): void {
  app.decorateRequest("idempotencyOwner", null);
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
    const claim = await claimIdempotencyKey(db, box, {
      principal: request.principal.name,
      key,
      method: request.method,
      path,
      requestHash,
    });
    switch (claim.kind) {
      case "new":
        request.idempotencyOwner = claim.owner;
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
    const owner = request.idempotencyOwner;
    if (owner === null) return payload;
    request.idempotencyOwner = null;
    // A claim that cannot be released (the control database is down) runs out with its lease.
    const release = (): Promise<void> =>
      releaseIdempotencyKey(db, owner).catch((error: unknown) => {
        request.log.warn({ err: error }, "could not release an idempotency key");
      });
    if (reply.statusCode >= 500) {
      await release();
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
    try {
      await storeIdempotentResponse(db, box, owner, {
        statusCode: reply.statusCode,
        headers,
        body,
      });
    } catch (error) {
      // The request's work is done: answer with its response rather than a 500 that would invite a
      // retry to do it again. Without a stored response the key must not stay "in progress", so
      // the claim is released.
      request.log.warn({ err: error }, "could not store the response of an idempotent request");
      await release();
    }
    return payload;
  });
}
