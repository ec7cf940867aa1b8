import type { ApiKeyEntry, Scope } from "../http/plugins/api-key-auth.js";
import { ConfigError } from "./config-error.js";

const SETTING = "FLEETWAY_API_KEYS";
const SCOPES: readonly Scope[] = ["read", "write", "admin"];

/**
 * `name:scope:secret,...` (FLEETWAY_API_KEYS); the secret may itself contain colons. Errors name
 * the entry by position and name but never show a secret, nor text that could be one.
 * @throws ConfigError on a malformed entry, an unknown scope, a short secret, or a duplicate
 */
export function parseApiKeys(text: string): ApiKeyEntry[] {
  const keys: ApiKeyEntry[] = [];
  for (const [index, entry] of text
    .split(",")
    .map((e) => e.trim())
    .entries()) {
    const where = `${SETTING} entry ${index + 1}`;
    const fail = (problem: string): never => {
      throw new ConfigError(SETTING, `${where} ${problem}`);
    };
    const [name = "", scope = "", ...rest] = entry.split(":");
    const secret = rest.join(":");
    // Checked before anything is echoed: a bare token pasted here would otherwise be shown as a name.
    if (rest.length === 0) fail("is not of the form name:scope:secret");
    if (!/^[A-Za-z0-9_.-]+$/.test(name))
      fail("needs a name of letters, digits, _ . - (name:scope:secret)");
    if (!SCOPES.includes(scope as Scope)) {
      // A short word is a mistyped scope and worth showing; anything else may be a misplaced secret.
      const shown = /^[A-Za-z]{1,12}$/.test(scope) ? `scope '${scope}'` : "an unknown scope";
      fail(`('${name}') has ${shown}; use read, write or admin`);
    }
    if (secret.length < 16) fail(`('${name}') needs a secret of at least 16 characters`);
    if (keys.some((k) => k.name === name)) fail(`has the name '${name}', which is used twice`);
    if (keys.some((k) => k.secret === secret)) fail(`('${name}') reuses another key's secret`);
    keys.push({ name, scope: scope as Scope, secret });
  }
  return keys;
}
