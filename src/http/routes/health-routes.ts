import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { ErrorCode } from "../../engine/errors.js";
import type { AppDeps } from "../app-deps.js";
import { problem, sendProblem } from "../problem.js";

/** Liveness, readiness (control database and Redis) and Prometheus metrics; no API key needed. */
export function registerHealthRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get(
    "/healthz",
    {
      schema: {
        tags: ["health"],
        summary: "The process is up",
        security: [],
        response: { 200: Type.Object({ status: Type.String() }) },
      },
    },
    async () => ({ status: "ok" }),
  );

  app.get(
    "/readyz",
    {
      schema: {
        tags: ["health"],
        summary: "The control database and Redis answer",
        security: [],
        response: {
          200: Type.Object({
            status: Type.String(),
            checks: Type.Record(Type.String(), Type.String()),
          }),
          503: Type.Ref("Problem"),
        },
      },
    },
    async (_request, reply) => {
      const checks: Record<string, string> = {};
      const probe = async (name: string, check: () => Promise<unknown>): Promise<void> => {
        try {
          await withTimeout(check(), 2_000);
          checks[name] = "ok";
        } catch (error) {
          checks[name] = error instanceof Error ? error.message : "failed";
        }
      };
      await Promise.all([
        probe("controlDatabase", () => deps.pool.query("SELECT 1")),
        probe("redis", () => deps.queue.getJobCounts("waiting")),
      ]);
      if (Object.values(checks).every((v) => v === "ok")) return { status: "ready", checks };
      return sendProblem(
        reply,
        problem(503, ErrorCode.SERVICE_UNAVAILABLE, "Not ready", { checks }),
      );
    },
  );

  app.get(
    "/metrics",
    { schema: { tags: ["health"], summary: "Prometheus metrics", hide: true } },
    async (_request, reply) => {
      const body = await deps.metricsRegistry.metrics();
      return reply.type(deps.metricsRegistry.contentType).send(body);
    },
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no answer within ${ms} ms`));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
