import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { ErrorCode } from "../../engine/errors.js";
import { withDeadline } from "../../engine/with-deadline.js";
import type { AppDeps } from "../app-deps.js";
import { sendMetrics } from "../metrics.js";
import { problem, sendProblem } from "../problem.js";

/** How long each readiness check may take before it counts as failed, ms. */
const PROBE_TIMEOUT_MS = 2_000;

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
          // A control database or Redis that stopped answering must not hold the probe.
          await withDeadline(check(), PROBE_TIMEOUT_MS, () => {
            throw new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`);
          });
          checks[name] = "ok";
        } catch (error) {
          checks[name] = error instanceof Error ? error.message : String(error);
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
    (_request, reply) => sendMetrics(reply, deps.metricsRegistry),
  );
}
