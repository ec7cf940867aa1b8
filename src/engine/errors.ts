/**
 * The engine's error model. Every failure the engine reports is a {@link FleetwayError} with a stable
 * `code` (the service maps codes to HTTP statuses, the CLI to exit codes) and structured `data`, the
 * way Alembic's errors carry the heads and the argument that caused them.
 */

/** Stable error codes. Never rename one: API clients and scripts match on them. */
export const ErrorCode = {
  // revision files
  SCRIPT_PARSE_ERROR: "SCRIPT_PARSE_ERROR",
  SCRIPT_LOAD_ERROR: "SCRIPT_LOAD_ERROR",
  // revision graph
  DUPLICATE_REVISION: "DUPLICATE_REVISION",
  MISSING_DOWN_REVISION: "MISSING_DOWN_REVISION",
  REVISION_CYCLE: "REVISION_CYCLE",
  INVALID_REVISION_ID: "INVALID_REVISION_ID",
  DUPLICATE_BRANCH_LABEL: "DUPLICATE_BRANCH_LABEL",
  // targets and plans
  UNKNOWN_REVISION: "UNKNOWN_REVISION",
  AMBIGUOUS_REVISION: "AMBIGUOUS_REVISION",
  MULTIPLE_HEADS: "MULTIPLE_HEADS",
  INVALID_TARGET: "INVALID_TARGET",
  RELATIVE_OUT_OF_RANGE: "RELATIVE_OUT_OF_RANGE",
  NOT_A_VALID_TARGET: "NOT_A_VALID_TARGET",
  AMBIGUOUS_UPGRADE: "AMBIGUOUS_UPGRADE",
  AMBIGUOUS_DOWNGRADE: "AMBIGUOUS_DOWNGRADE",
  AMBIGUOUS_WALK: "AMBIGUOUS_WALK",
  MISSING_DOWNGRADE: "MISSING_DOWNGRADE",
  // runner
  LOCK_BUSY: "LOCK_BUSY",
  MIGRATION_FAILED: "MIGRATION_FAILED",
  MIGRATION_CANCELLED: "MIGRATION_CANCELLED",
  CHECKSUM_MISMATCH: "CHECKSUM_MISMATCH",
  NON_TRANSACTIONAL_IN_ALL_MODE: "NON_TRANSACTIONAL_IN_ALL_MODE",
  VERSION_TABLE_CONFLICT: "VERSION_TABLE_CONFLICT",
  UNKNOWN_APPLIED_REVISION: "UNKNOWN_APPLIED_REVISION",
  CONNECTION_FAILED: "CONNECTION_FAILED",
  // CLI and configuration
  USAGE_ERROR: "USAGE_ERROR",
  // `fleetway current --check-heads`: the database is not at every head (Alembic's DatabaseNotAtHead)
  DATABASE_NOT_AT_HEAD: "DATABASE_NOT_AT_HEAD",
  CONFIG_ERROR: "CONFIG_ERROR",
  // service (HTTP API, jobs)
  VALIDATION_ERROR: "VALIDATION_ERROR",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  RATE_LIMITED: "RATE_LIMITED",
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  INVALID_CURSOR: "INVALID_CURSOR",
  TENANT_NOT_FOUND: "TENANT_NOT_FOUND",
  // a rollout selected tenants by ids that are not registered (a typo must not shrink the rollout)
  UNKNOWN_TENANTS: "UNKNOWN_TENANTS",
  // recorded on a rollout's tenant deleted while the rollout ran (skipped), never raised
  TENANT_DELETED: "TENANT_DELETED",
  TENANT_EXISTS: "TENANT_EXISTS",
  TENANT_BUSY: "TENANT_BUSY",
  // the tenant's database or schema is being dropped (DELETE ?drop=true): no job is created for
  // it, and no second drop of it starts, until that drop ended
  TENANT_DELETING: "TENANT_DELETING",
  // the control database's connection was lost while a DELETE's change committed: whether it
  // committed is unknown, and the same DELETE may be retried
  DELETION_OUTCOME_UNKNOWN: "DELETION_OUTCOME_UNKNOWN",
  TENANT_UNREACHABLE: "TENANT_UNREACHABLE",
  // a read of a tenant database (status, history, plan, `current`) ran out of time: a lock held
  // on its tables, or a server that stopped answering
  TENANT_TIMEOUT: "TENANT_TIMEOUT",
  JOB_NOT_FOUND: "JOB_NOT_FOUND",
  JOB_NOT_CANCELLABLE: "JOB_NOT_CANCELLABLE",
  IDEMPOTENCY_KEY_REUSED: "IDEMPOTENCY_KEY_REUSED",
  IDEMPOTENCY_IN_PROGRESS: "IDEMPOTENCY_IN_PROGRESS",
  SERVICE_UNAVAILABLE: "SERVICE_UNAVAILABLE",
  WEBHOOK_NOT_FOUND: "WEBHOOK_NOT_FOUND",
  WEBHOOK_URL_FORBIDDEN: "WEBHOOK_URL_FORBIDDEN",
  DELIVERY_NOT_FOUND: "DELIVERY_NOT_FOUND",
  ROLLOUT_NOT_FOUND: "ROLLOUT_NOT_FOUND",
  ROLLOUT_STATE_CONFLICT: "ROLLOUT_STATE_CONFLICT",
  // CLI remote verbs: the rollout or job they waited for did not succeed
  REMOTE_FAILED: "REMOTE_FAILED",
  PROVISIONING_DISABLED: "PROVISIONING_DISABLED",
  PROVISIONING_FAILED: "PROVISIONING_FAILED",
  NOT_PROVISIONED: "NOT_PROVISIONED",
  // the database or schema exists but does not carry Fleetway's mark for this tenant
  PROVISIONING_CONFLICT: "PROVISIONING_CONFLICT",
  // creating or dropping a tenant's database or schema waited past its lock_timeout for a lock
  // another session holds
  PROVISIONING_TIMEOUT: "PROVISIONING_TIMEOUT",
  INTERNAL_ERROR: "INTERNAL_ERROR",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Structured, JSON-safe detail attached to an error. */
export type ErrorData = Readonly<Record<string, unknown>>;

/** The one base class for every error Fleetway raises on purpose. */
export class FleetwayError extends Error {
  readonly code: ErrorCode;
  readonly data: ErrorData;

  constructor(
    code: ErrorCode,
    message: string,
    data: ErrorData = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "FleetwayError";
    this.code = code;
    this.data = data;
  }

  /** A JSON-safe view, for `--json` output and API problem documents. */
  toJSON(): { code: ErrorCode; message: string; data: ErrorData } {
    return { code: this.code, message: this.message, data: this.data };
  }
}

/** True when `error` is a {@link FleetwayError}, optionally with one of the given codes. */
export function isFleetwayError(error: unknown, ...codes: ErrorCode[]): error is FleetwayError {
  return error instanceof FleetwayError && (codes.length === 0 || codes.includes(error.code));
}

/** Exhaustiveness guard for discriminated unions. */
export function assertNever(value: never, what = "value"): never {
  throw new Error(`Unexpected ${what}: ${JSON.stringify(value)}`);
}
