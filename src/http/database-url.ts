import pg from "pg";
import { ErrorCode, FleetwayError } from "../engine/errors.js";

/**
 * Refuses a tenant connection string node-postgres cannot parse (a password with an unescaped
 * `#`, `/` or `?`, a common mistake) when it is given: stored, it would make every status read a
 * failure and every job fail after all its attempts. pg's own parser decides, not `URL`: pg also
 * takes forms `URL` refuses (`postgres://user@/db?host=/var/run/postgresql`). Building a client
 * connects to nothing. The message never echoes the string (it may hold a password).
 */
export function requireParsableDatabaseUrl(url: string): void {
  try {
    new pg.Client({ connectionString: url });
  } catch {
    throw new FleetwayError(
      ErrorCode.VALIDATION_ERROR,
      "databaseUrl is not a PostgreSQL URL node-postgres can read; percent-encode # / ? @ : in the user name and password",
      { field: "databaseUrl" },
    );
  }
}
