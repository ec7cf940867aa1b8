import pg from "pg";
import { loginCutShort } from "./redact-connection-string.js";

/**
 * Why node-postgres would not read `connectionString` as its writer meant, or null when it would.
 *
 * pg reads almost anything: `app:pw@db:5432/t` (a `postgres://` forgotten) becomes a database
 * named `w@db:5432/t` on localhost, and PostgreSQL's refusal then repeats part of the password.
 * So only the forms pg documents are taken: a `postgres://` or `postgresql://` URL, a `socket:`
 * URL, or a Unix socket directory (`/var/run/postgresql dbname`); and pg's own parser must take it
 * (a password with an unescaped `#`, `/` or `?` fails there, or is read as a host and port
 * with the password's rest in the path: {@link loginCutShort}). Building a client connects to
 * nothing. The reason never repeats the string (it may hold a password).
 */
export function connectionStringProblem(connectionString: string): string | null {
  if (!/^(?:postgres(?:ql)?:\/\/|socket:|\/)/i.test(connectionString)) {
    return "is not a postgres:// or postgresql:// URL";
  }
  const unescaped =
    "is not a PostgreSQL URL node-postgres can read; percent-encode # / ? @ : in the user name and password";
  if (/^postgres(?:ql)?:\/\//i.test(connectionString) && loginCutShort(connectionString)) {
    return unescaped;
  }
  try {
    new pg.Client({ connectionString });
    return null;
  } catch {
    return unescaped;
  }
}
