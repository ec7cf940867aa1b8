import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ErrorCode, FleetwayError } from "../../engine/errors.js";

export type Scope = "read" | "write" | "admin";

/** Who made a request: an API key's name (never its secret) and scope. */
export interface Principal {
  readonly name: string;
  readonly scope: Scope;
}

export interface ApiKeyEntry {
  readonly name: string;
  readonly scope: Scope;
  readonly secret: string;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** The scope a route needs; routes without one (health, docs) are public. */
    scope?: Scope;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const RANK: Readonly<Record<Scope, number>> = { read: 1, write: 2, admin: 3 };

/** admin ⊃ write ⊃ read. */
export function scopeAllows(granted: Scope, required: Scope): boolean {
  return RANK[granted] >= RANK[required];
}

const digest = (value: string): Buffer => createHash("sha256").update(value).digest();

/**
 * Bearer API keys. The presented token is compared with every configured key through
 * fixed-length digests and timingSafeEqual, without stopping at the first match, so response
 * time says nothing about how much of a key was right or which key matched.
 */
export function registerApiKeyAuth(app: FastifyInstance, keys: readonly ApiKeyEntry[]): void {
  const hashed = keys.map((k) => ({ name: k.name, scope: k.scope, digest: digest(k.secret) }));
  const identify = (token: string): Principal | null => {
    const presented = digest(token);
    let found: Principal | null = null;
    for (const key of hashed) {
      if (timingSafeEqual(presented, key.digest)) found = { name: key.name, scope: key.scope };
    }
    return found;
  };
  app.decorateRequest("principal", null);
  app.addHook("onRequest", async (request: FastifyRequest) => {
    const required = request.routeOptions.config.scope;
    if (required === undefined) return;
    const header = request.headers.authorization ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const principal = match?.[1] === undefined ? null : identify(match[1]);
    if (principal === null) {
      throw new FleetwayError(
        ErrorCode.UNAUTHORIZED,
        header === "" ? "Missing API key: send 'Authorization: Bearer <key>'" : "Invalid API key",
      );
    }
    if (!scopeAllows(principal.scope, required)) {
      throw new FleetwayError(
        ErrorCode.FORBIDDEN,
        `API key '${principal.name}' has scope '${principal.scope}'; this needs '${required}'`,
        { required, granted: principal.scope },
      );
    }
    request.principal = principal;
  });
}
