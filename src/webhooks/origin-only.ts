/** What stands for a hidden part of a value (a secret, a URL's path and query). */
export const REDACTED = "[redacted]";

/** scheme, authority (userinfo, host, port) and the rest of an absolute URL. */
const ABSOLUTE_URL = /^([a-z][a-z0-9+.-]*:)\/\/([^/?#]*)(.*)$/is;

/**
 * An absolute URL with only its scheme, host and port left: receivers put tokens in the query
 * string or, as Slack, Discord and Teams incoming webhooks do, in the path, and unlike a userinfo
 * password nothing else masks them. A path or query becomes `/[redacted]`, userinfo
 * `[redacted]@`; a bare `/` is kept. Anything else (a request path such as `/v1/jobs?limit=5`)
 * is returned as it is.
 */
export function originOnly(value: string): string {
  const parts = ABSOLUTE_URL.exec(value);
  if (parts === null) return value;
  const [, scheme = "", authority = "", rest = ""] = parts;
  const at = authority.lastIndexOf("@");
  const host = at < 0 ? authority : `${REDACTED}@${authority.slice(at + 1)}`;
  return `${scheme}//${host}${rest === "" || rest === "/" ? rest : `/${REDACTED}`}`;
}

/**
 * How much of a callback or webhook subscription URL a view shows: `whole` (as given, less any
 * `user:password@`, which is never shown) to API keys whose scope could have set it, `origin`
 * ({@link originOnly}) to the others and in event payloads.
 */
export type UrlView = "whole" | "origin";

/** `url` (already without credentials) as `view` says; null stays null. */
export function showUrl(url: string, view: UrlView): string;
export function showUrl(url: string | null, view: UrlView): string | null;
export function showUrl(url: string | null, view: UrlView): string | null {
  if (url === null) return null;
  return view === "whole" ? url : originOnly(url);
}

/** A URL with any user:password@ removed. */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === "" && parsed.password === "") return url;
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return "[invalid url]";
  }
}
