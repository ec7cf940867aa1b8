import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { latestJobOf } from "../../control/job-store.js";
import { recordTenantHeads, requireTenant } from "../../control/tenant-store.js";
import { planMigration } from "../../engine/plan/plan-migration.js";
import { readHeadsAndHistory, readHistory } from "../../engine/runner/run-migration.js";
import type { AppDeps } from "../app-deps.js";
import {
  ErrorResponses,
  PageQuery,
  pageOf,
  TenantId,
  TenantReadErrorResponses,
} from "../schemas/common-schemas.js";
import { HistoryEntrySchema, TenantStatusSchema } from "../schemas/tenant-schemas.js";
import { decodeCursor, encodeCursor, seqKey } from "../../control/pagination.js";
import { tenantReadOptions } from "../tenant-read-options.js";
import { CALLBACK_URL_SCOPE, jobView, urlViewFor } from "../views.js";

const TenantParams = Type.Object({ id: TenantId });

/** What is live in a tenant database: its heads, what is pending, its history. */
export function registerTenantStateRoutes(root: FastifyInstance, deps: AppDeps): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { pool, migrations } = deps;

  app.get(
    "/v1/tenants/:id/status",
    {
      config: { scope: "read" },
      schema: {
        tags: ["tenants"],
        summary: "Current heads read live from the tenant database, pending revisions, last job",
        params: TenantParams,
        response: {
          200: TenantStatusSchema,
          ...ErrorResponses,
          ...TenantReadErrorResponses,
        },
      },
    },
    async (request) => {
      const tenant = await requireTenant(pool, request.params.id);
      // One connection and one time limit for both reads.
      const { heads, history } = await readHeadsAndHistory(tenantReadOptions(deps, tenant), {
        limit: 10_000,
      });
      await recordTenantHeads(pool, tenant, heads);
      const { graph } = migrations;
      const unknownHeads = heads.filter((h) => !graph.has(h));
      const pending =
        unknownHeads.length > 0
          ? []
          : planMigration(
              graph,
              { operation: "upgrade", target: "heads", purge: false },
              heads,
            ).steps.flatMap((s) => (s.kind === "revision" ? [s.revision] : []));
      const appliedIds = unknownHeads.length > 0 ? [] : graph.appliedRevisions(heads);
      const latestUp = new Map<string, string>();
      for (const row of history) {
        if (
          row.success &&
          row.direction === "up" &&
          row.revision !== null &&
          row.checksum !== null &&
          !latestUp.has(row.revision)
        ) {
          latestUp.set(row.revision, row.checksum);
        }
      }
      const checksumMismatches = appliedIds.flatMap((id) => {
        const applied = latestUp.get(id);
        const current = graph.get(id).checksum;
        return applied === undefined || applied === current
          ? []
          : [{ revision: id, applied, current }];
      });
      const lastJob = await latestJobOf(pool, tenant.id);
      return {
        tenantId: tenant.id,
        heads,
        atHead: unknownHeads.length === 0 && pending.length === 0 && heads.length > 0,
        pending,
        unknownHeads,
        checksumMismatches,
        lastJob:
          lastJob === null
            ? null
            : jobView(lastJob, urlViewFor(request.principal, CALLBACK_URL_SCOPE)),
      };
    },
  );

  app.get(
    "/v1/tenants/:id/history",
    {
      config: { scope: "read" },
      schema: {
        tags: ["tenants"],
        summary: "Every applied, reverted or failed revision of the tenant, newest first",
        params: TenantParams,
        querystring: Type.Object({ ...PageQuery }),
        response: {
          200: pageOf(HistoryEntrySchema),
          ...ErrorResponses,
          ...TenantReadErrorResponses,
        },
      },
    },
    async (request) => {
      const tenant = await requireTenant(pool, request.params.id);
      const limit = request.query.limit ?? 50;
      const before = decodeCursor(request.query.cursor, seqKey);
      const rows = await readHistory(tenantReadOptions(deps, tenant), {
        limit: limit + 1,
        ...(before === null ? {} : { beforeId: before }),
      });
      const items = rows.slice(0, limit);
      const last = items.at(-1);
      return {
        items: items.map((r) => ({
          ...r,
          startedAt: r.startedAt.toISOString(),
          finishedAt: r.finishedAt.toISOString(),
          headsAfter: [...r.headsAfter],
        })),
        nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last.id) : null,
      };
    },
  );
}
