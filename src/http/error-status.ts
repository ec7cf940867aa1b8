import { ErrorCode } from "../engine/errors.js";

/**
 * The one table from error codes to HTTP statuses. Anything missing is a 500 whose details stay
 * in the log. 422 is for a request that is well-formed but names something the migration graph
 * or the tenant's state cannot satisfy.
 */
export const ERROR_STATUS: Readonly<Partial<Record<ErrorCode, number>>> = {
  [ErrorCode.VALIDATION_ERROR]: 400,
  [ErrorCode.INVALID_CURSOR]: 400,
  [ErrorCode.INVALID_TARGET]: 400,
  [ErrorCode.UNKNOWN_TENANTS]: 400,
  [ErrorCode.UNAUTHORIZED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.TENANT_NOT_FOUND]: 404,
  [ErrorCode.JOB_NOT_FOUND]: 404,
  [ErrorCode.WEBHOOK_NOT_FOUND]: 404,
  [ErrorCode.DELIVERY_NOT_FOUND]: 404,
  [ErrorCode.ROLLOUT_NOT_FOUND]: 404,
  [ErrorCode.ROLLOUT_STATE_CONFLICT]: 409,
  [ErrorCode.PROVISIONING_DISABLED]: 422,
  [ErrorCode.NOT_PROVISIONED]: 422,
  [ErrorCode.PROVISIONING_FAILED]: 502,
  [ErrorCode.PROVISIONING_CONFLICT]: 409,
  [ErrorCode.WEBHOOK_URL_FORBIDDEN]: 422,
  [ErrorCode.TENANT_EXISTS]: 409,
  [ErrorCode.TENANT_BUSY]: 409,
  [ErrorCode.TENANT_DELETING]: 409,
  [ErrorCode.JOB_NOT_CANCELLABLE]: 409,
  [ErrorCode.IDEMPOTENCY_IN_PROGRESS]: 409,
  [ErrorCode.PAYLOAD_TOO_LARGE]: 413,
  [ErrorCode.IDEMPOTENCY_KEY_REUSED]: 422,
  [ErrorCode.UNKNOWN_REVISION]: 422,
  [ErrorCode.AMBIGUOUS_REVISION]: 422,
  [ErrorCode.MULTIPLE_HEADS]: 422,
  [ErrorCode.RELATIVE_OUT_OF_RANGE]: 422,
  [ErrorCode.NOT_A_VALID_TARGET]: 422,
  [ErrorCode.AMBIGUOUS_UPGRADE]: 422,
  [ErrorCode.AMBIGUOUS_DOWNGRADE]: 422,
  [ErrorCode.AMBIGUOUS_WALK]: 422,
  [ErrorCode.MISSING_DOWNGRADE]: 422,
  [ErrorCode.UNKNOWN_APPLIED_REVISION]: 422,
  [ErrorCode.NON_TRANSACTIONAL_IN_ALL_MODE]: 422,
  [ErrorCode.CHECKSUM_MISMATCH]: 422,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.TENANT_UNREACHABLE]: 502,
  [ErrorCode.CONNECTION_FAILED]: 502,
  [ErrorCode.TENANT_TIMEOUT]: 504,
  [ErrorCode.PROVISIONING_TIMEOUT]: 504,
  [ErrorCode.LOCK_BUSY]: 503,
  [ErrorCode.SERVICE_UNAVAILABLE]: 503,
  [ErrorCode.DELETION_OUTCOME_UNKNOWN]: 503,
};

export function statusOf(code: ErrorCode): number {
  return ERROR_STATUS[code] ?? 500;
}
