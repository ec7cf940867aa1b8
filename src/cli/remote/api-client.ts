import { ErrorCode, FleetwayError, type ErrorCode as Code } from "../../engine/errors.js";
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
    const url = options.url ?? io.env.FLEETWAY_URL ?? "http://127.0.0.1:8080";
    const key = options.apiKey ?? io.env.FLEETWAY_API_KEY;
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
    const parsed: unknown = text === "" ? null : JSON.parse(text);
    if (!response.ok) {
      const problem = (parsed ?? {}) as {
        code?: Code;
        detail?: string;
        data?: Record<string, unknown>;
      };
      throw new FleetwayError(
        problem.code ?? ErrorCode.INTERNAL_ERROR,
        problem.detail ?? `HTTP ${response.status}`,
        problem.data ?? {},
      );
    }
    return parsed as T;
  }
}
