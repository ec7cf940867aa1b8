import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { isAtAllHeads } from "../../engine/graph/is-at-all-heads.js";
import type { AppDeps } from "../app-deps.js";
import { ErrorResponses } from "../schemas/common-schemas.js";

/** One screen for operators: where the fleet is, who is behind, who is failing, what is running. */
export function registerFleetRoutes(root: FastifyInstance, deps: AppDeps): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { pool, migrations } = deps;

  app.get(
    "/v1/fleet",
    {
      config: { scope: "read" },
      schema: {
        tags: ["rollouts"],
        summary:
          "Tenants per revision, tenants behind head, failing tenants, active jobs and rollouts",
        response: {
          200: Type.Object({
            heads: Type.Array(Type.String()),
            tenants: Type.Integer(),
            byRevision: Type.Array(
              Type.Object({
                heads: Type.Union([Type.Array(Type.String()), Type.Null()]),
                tenants: Type.Integer(),
              }),
            ),
            atHead: Type.Integer(),
            behindHead: Type.Integer({
              description:
                "Tenants whose last seen heads are not the migration set's heads (never seen included)",
            }),
            failingTenants: Type.Array(
              Type.Object({
                tenantId: Type.String(),
                jobId: Type.String(),
                code: Type.Union([Type.String(), Type.Null()]),
                message: Type.Union([Type.String(), Type.Null()]),
              }),
            ),
            activeJobs: Type.Object({ queued: Type.Integer(), running: Type.Integer() }),
            activeRollouts: Type.Array(
              Type.Object({
                id: Type.String(),
                state: Type.String(),
                target: Type.String(),
                totalTenants: Type.Integer(),
              }),
            ),
          }),
          ...ErrorResponses,
        },
      },
    },
    async () => {
      const heads = [...migrations.graph.realHeads].sort();
      const byRevision = await pool.query<{ heads: string[] | null; tenants: number }>(
        // At base ([]) and never seen (null) are two groups: array_agg of nothing is null.
        `SELECT CASE WHEN heads IS NOT NULL
                     THEN COALESCE((SELECT array_agg(h ORDER BY h) FROM unnest(heads) h), '{}')
                END AS heads, count(*)::int AS tenants
           FROM tenants GROUP BY 1 ORDER BY 2 DESC`,
      );
      const total = byRevision.rows.reduce((n, r) => n + r.tenants, 0);
      const atHead = byRevision.rows
        .filter((r) => r.heads !== null && isAtAllHeads(migrations.graph, r.heads))
        .reduce((n, r) => n + r.tenants, 0);
      const failing = await pool.query<{
        tenant_id: string;
        id: string;
        error: { code?: string; message?: string } | null;
      }>(
        `SELECT DISTINCT ON (j.tenant_id) j.tenant_id, j.id, j.error, j.state
           FROM jobs j ORDER BY j.tenant_id, j.seq DESC`,
      );
      const jobs = await pool.query<{ state: string; n: number }>(
        "SELECT state, count(*)::int AS n FROM jobs WHERE state IN ('queued', 'running') GROUP BY state",
      );
      const rollouts = await pool.query<{
        id: string;
        state: string;
        target: string;
        total_tenants: number;
      }>(
        "SELECT id, state, target, total_tenants FROM rollouts WHERE state IN ('running', 'paused', 'halted') ORDER BY seq DESC LIMIT 100",
      );
      const count = (state: string): number => jobs.rows.find((r) => r.state === state)?.n ?? 0;
      return {
        heads,
        tenants: total,
        byRevision: byRevision.rows,
        atHead,
        behindHead: total - atHead,
        failingTenants: failing.rows
          .filter((r) => (r as unknown as { state: string }).state === "failed")
          .slice(0, 100)
          .map((r) => ({
            tenantId: r.tenant_id,
            jobId: r.id,
            code: r.error?.code ?? null,
            message: r.error?.message ?? null,
          })),
        activeJobs: { queued: count("queued"), running: count("running") },
        activeRollouts: rollouts.rows.map((r) => ({
          id: r.id,
          state: r.state,
          target: r.target,
          totalTenants: r.total_tenants,
        })),
      };
    },
  );
}
