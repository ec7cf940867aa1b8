import { ErrorCode, FleetwayError, type ErrorCode as Code } from "../../engine/errors.js";
import { settingText } from "../../config/read-setting.js";
import { UsageError, type CliIo } from "../cli-io.js";

/** Where the remote verbs find the service: flags first, then FLEETWAY_URL / FLEETWAY_API_KEY. */
export interface RemoteOptions {
  readonly url?: string;
  readonly apiKey?: string;
}

/** A small client of the Fleetway API for deploy tooling (fetch, JSON, problem+json errors). */
export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
  ) {}

  static from(io: CliIo, options: RemoteOptions): ApiClient {
    // Blank counts as unset, as for every setting (an env file's `FLEETWAY_URL=`).
    const url = options.url ?? settingText(io.env, "FLEETWAY_URL") ?? "http://127.0.0.1:8080";
    const key = options.apiKey ?? settingText(io.env, "FLEETWAY_API_KEY");
    if (key === undefined || key === "")
      throw new UsageError("No API key: pass --api-key or set FLEETWAY_API_KEY");
    return new ApiClient(url.replace(/\/+$/, ""), key);
  }

  /** @param signal aborts the request: it then rejects with the signal's reason */
  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>("GET", path, undefined, undefined, signal);
  }

  post<T>(path: string, body: unknown, idempotencyKey?: string): Promise<T> {
    return this.request<T>("POST", path, body, idempotencyKey);
  }

  private async request<T>(
    method: string,
    path: string,
    body?: unknown,
    idempotencyKey?: string,
    signal?: AbortSignal,
  ): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.apiKey}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (idempotencyKey !== undefined) headers["idempotency-key"] = idempotencyKey;
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      throw new FleetwayError(
        ErrorCode.SERVICE_UNAVAILABLE,
        `Cannot reach Fleetway at ${this.baseUrl}: ${error instanceof Error ? error.message : String(error)}`,
        {},
        { cause: error },
      );
    }
    const text = await response.text();
    if (!response.ok) throw this.failure(response, text);
    return (text === "" ? null : JSON.parse(text)) as T;
  }

  /**
   * The service's problem document as an error, with the HTTP status in `data.httpStatus` (the CLI
   * picks its exit code from it). A body that is not one (a proxy's HTML 502) is reported by status
   * and a short excerpt instead of failing to parse.
   */
  private failure(response: Response, text: string): FleetwayError {
    const httpStatus = response.status;
    const problem = problemOf(response.headers.get("content-type"), text);
    if (problem === undefined) {
      const excerpt = text.replace(/\s+/g, " ").trim().slice(0, 200);
      return new FleetwayError(
        ErrorCode.INTERNAL_ERROR,
        `HTTP ${httpStatus} ${response.statusText} from ${this.baseUrl}` +
          (excerpt === "" ? "" : `: ${excerpt}`),
        { httpStatus },
      );
    }
    return new FleetwayError(problem.code, problem.detail ?? `HTTP ${httpStatus}`, {
      ...problem.data,
      httpStatus,
    });
  }
}

interface Problem {
  readonly code: Code;
  readonly detail?: string;
  readonly data?: Record<string, unknown>;
}

/** The problem+json body of an error response, or undefined when the body is not one. */
function problemOf(contentType: string | null, text: string): Problem | undefined {
  if (contentType === null || !/[/+]json\b/i.test(contentType)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { code, detail, data } = value as Record<string, unknown>;
  if (typeof code !== "string") return undefined;
  return {
    // A code this CLI does not know (a newer service) is shown as the service sent it.
    code: code as Code,
    ...(typeof detail === "string" ? { detail } : {}),
    ...(typeof data === "object" && data !== null ? { data: data as Record<string, unknown> } : {}),
  };
}
