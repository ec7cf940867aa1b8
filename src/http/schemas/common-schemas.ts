import { Type, type TSchema } from "typebox";

/** The problem+json body every error response has. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: "Stable error code, e.g. TENANT_BUSY, UNKNOWN_REVISION" }),
    instance: Type.Optional(Type.String()),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: "Problem", description: "RFC 9457 problem details" },
);

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ description: "nextCursor of the previous page" })),
};

export function pageOf<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
  });
}

/** Tenant ids appear in URLs and logs: a conservative alphabet. */
export const TenantId = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$" });

/** Text PostgreSQL can store and logs show plainly: no control characters, no lone surrogates. */
export const TEXT_WITHOUT_CONTROLS = "^[^\\u0000-\\u001f\\ud800-\\udfff]+$";

/**
 * A tenant tag: free text, but no control characters (PostgreSQL's text refuses NUL) and no
 * unpaired surrogates (jsonb refuses them), either of which would fail the statement storing it.
 */
export const Tag = Type.String({ minLength: 1, maxLength: 64, pattern: TEXT_WITHOUT_CONTROLS });

export const ErrorResponses = {
  400: Type.Ref("Problem"),
  401: Type.Ref("Problem"),
  403: Type.Ref("Problem"),
  404: Type.Ref("Problem"),
  409: Type.Ref("Problem"),
  422: Type.Ref("Problem"),
  429: Type.Ref("Problem"),
} as const;

/** The failures of a route that reads a tenant database live (status, history, plan). */
export const TenantReadErrorResponses = {
  502: Type.Ref("Problem", {
    description: "CONNECTION_FAILED: the tenant database could not be reached",
  }),
  504: Type.Ref("Problem", {
    description:
      "TENANT_TIMEOUT: reading the tenant database took longer than FLEETWAY_TENANT_READ_TIMEOUT_MS (a lock held on its version or history table, e.g. by a running migration, or a server that stopped answering)",
  }),
} as const;

/** The failures of a route that creates or drops a tenant's database or schema (provisioning). */
export const ProvisioningErrorResponses = {
  502: Type.Ref("Problem", {
    description:
      "PROVISIONING_FAILED or CONNECTION_FAILED: the database server refused or could not be reached",
  }),
  504: Type.Ref("Problem", {
    description:
      "PROVISIONING_TIMEOUT: creating or dropping the database or schema waited longer than FLEETWAY_LOCK_TIMEOUT_MS for a lock another session holds",
  }),
} as const;

export const Heads = Type.Array(Type.String(), { description: "The version table's rows" });
