/**
 * A connection string safe to show or log: `postgres://app:***@db.internal:5432/tenant_a` (the
 * password and password-like query parameters masked, the rest kept so the reader can tell which
 * database it is). Anything that is not a `scheme://` URL becomes `<connection string>` rather than
 * being echoed: without an authority part there is no telling which piece is the password
 * (`app:pw@db:5432/t` parses as a URL of scheme `app:` whose password is empty, and a libpq
 * `host=db password=pw` string is no URL at all).
 *
 * The one masking function of Fleetway: the engine's errors, the control database's, the API's
 * `databaseUrlMasked`, configuration errors and the CLI's `current -v` all show strings through it.
 */
export function redactConnectionString(connectionString: string): string {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(connectionString)) return UNSHOWN;
  if (loginCutShort(connectionString)) return UNSHOWN;
  try {
    const url = new URL(connectionString);
    if (url.password !== "") url.password = "***";
    for (const key of [...url.searchParams.keys()]) {
      if (/pass|secret|key/i.test(key)) url.searchParams.set(key, "***");
    }
    return url.toString();
  } catch {
    return UNSHOWN;
  }
}

/**
 * Whether a `scheme://` URL has an `@` past its authority while the authority has none: a
 * password with an unescaped `/`, `?` or `#` ended the authority early. `postgres://app:2024/Zq@db/t`
 * parses as host `app`, port 2024, no password, and the password's rest in the path, so nothing
 * would be masked (base64 passwords hold `/`). Such a string is neither shown nor taken.
 */
export function loginCutShort(connectionString: string): boolean {
  const rest = connectionString.slice(connectionString.indexOf("://") + 3);
  const authorityEnd = rest.search(/[/?#]/);
  if (authorityEnd === -1) return false;
  return !rest.slice(0, authorityEnd).includes("@") && rest.slice(authorityEnd).includes("@");
}

/** What stands for a connection string that cannot be shown safely. */
const UNSHOWN = "<connection string>";
