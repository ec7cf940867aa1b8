import type { FastifyReply } from "fastify";
import type { ErrorCode } from "../engine/errors.js";
import { type ErrorData } from "../engine/errors.js";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** An RFC 9457 problem document with Fleetway's stable `code`. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ErrorCode;
  readonly instance?: string;
  readonly data?: ErrorData;
}

const TITLES: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Payload Too Large",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

export function problem(
  status: number,
  code: ErrorCode,
  detail: string,
  data?: ErrorData,
  instance?: string,
): Problem {
  return {
    // A stable URI per code; it does not need to resolve.
    type: `https://fleetway.dev/problems/${code.toLowerCase().replace(/_/g, "-")}`,
    title: TITLES[status] ?? "Error",
    status,
    detail,
    code,
    ...(instance === undefined ? {} : { instance }),
    ...(data === undefined || Object.keys(data).length === 0 ? {} : { data }),
  };
}

export function sendProblem(reply: FastifyReply, body: Problem): FastifyReply {
  return reply.status(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
}
