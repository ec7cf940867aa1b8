import http from "node:http";
import https from "node:https";
import type { AddressPolicy } from "./ssrf-guard.js";
import { forbiddenLiteral, guardedLookup } from "./ssrf-guard.js";

export interface PostResult {
  /** Null when no response arrived (connection refused, timeout, forbidden address...). */
  readonly statusCode: number | null;
  /** The first bytes of the response body, for the delivery log. */
  readonly excerpt: string | null;
  readonly retryAfter: string | undefined;
  readonly error: string | null;
  /**
   * Whether no later attempt can do better: the URL's host is an address literal the SSRF guard
   * forbids, which only a configuration change could allow (a host name may resolve elsewhere
   * later, so its refusal is not permanent).
   */
  readonly permanent: boolean;
  readonly durationMs: number;
}

const EXCERPT_BYTES = 1024;

/**
 * One POST of a webhook. Redirects are not followed (node's http never does): a 3xx is simply
 * not a 2xx. The whole exchange is bounded by `timeoutMs`. Connections go through the SSRF
 * guard's lookup, which refuses private addresses at connect time; a host that is an address
 * literal, which no lookup sees, is checked here.
 */
export function postWebhook(
  url: string,
  body: string,
  headers: Record<string, string>,
  options: { timeoutMs: number; policy: AddressPolicy },
): Promise<PostResult> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    // Declared before `finish`, which the refusals below call before the timer is started.
    let timer: NodeJS.Timeout | undefined = undefined;
    const finish = (
      result: Omit<PostResult, "durationMs" | "permanent"> & { permanent?: boolean },
    ): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ permanent: false, ...result, durationMs: elapsed() });
    };
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      finish({ statusCode: null, excerpt: null, retryAfter: undefined, error: "invalid URL" });
      return;
    }
    const refused = forbiddenLiteral(target, options.policy);
    if (refused !== null) {
      finish({
        statusCode: null,
        excerpt: null,
        retryAfter: undefined,
        error: refused.message,
        permanent: true,
      });
      return;
    }
    const client = target.protocol === "https:" ? https : http;
    const request = client.request(
      target,
      {
        method: "POST",
        headers: {
          ...headers,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          "user-agent": "Fleetway-Webhooks/1",
        },
        lookup: guardedLookup(options.policy),
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          if (size < EXCERPT_BYTES) chunks.push(chunk);
          size += chunk.length;
        });
        response.on("end", () => {
          finish({
            statusCode: response.statusCode ?? null,
            // PostgreSQL's text refuses NUL: an excerpt that could not be logged would fail the attempt.
            excerpt: Buffer.concat(chunks)
              .subarray(0, EXCERPT_BYTES)
              .toString("utf8")
              .replaceAll("\u0000", "\uFFFD"),
            retryAfter: headerValue(response.headers["retry-after"]),
            error: null,
          });
        });
        response.on("error", (error) => {
          finish({
            statusCode: response.statusCode ?? null,
            excerpt: null,
            retryAfter: undefined,
            error: error.message,
          });
        });
      },
    );
    timer = setTimeout(() => {
      request.destroy(new Error(`no complete response within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    request.on("error", (error) => {
      finish({ statusCode: null, excerpt: null, retryAfter: undefined, error: error.message });
    });
    request.end(body);
  });
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
