import { connectionStringProblem } from "../engine/connection-string-form.js";
import { ErrorCode, FleetwayError } from "../engine/errors.js";

/**
 * Refuses a tenant connection string node-postgres would not read as meant (see
 * connectionStringProblem: a password with an unescaped `#`, `/` or `?`, a forgotten
 * `postgres://`) when it is given: stored, it would make every status read a failure and every
 * job fail after all its attempts. The message never echoes the string (it may hold a password).
 */
export function requireParsableDatabaseUrl(url: string): void {
  const problem = connectionStringProblem(url);
  if (problem === null) return;
  throw new FleetwayError(ErrorCode.VALIDATION_ERROR, `databaseUrl ${problem}`, {
    field: "databaseUrl",
  });
}
