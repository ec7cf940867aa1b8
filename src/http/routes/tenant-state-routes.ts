import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { latestJobOf } from "../../control/job-store.js";
import { requireTenant } from "../../control/tenant-store.js";
import { readTenantHistory, readTenantStatus } from "../../jobs/read-tenant-state.js";
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
import { jobView } from "../../webhooks/payload-views.js";
import { CALLBACK_URL_SCOPE, urlViewFor } from "../views.js";

const TenantParams = Type.Object({ id: TenantId });

/** What is live in a tenant database: its heads, what is pending, its history. */
export function registerTenantStateRoutes(root: FastifyInstance, deps: AppDeps): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { pool } = deps;

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
      const status = await readTenantStatus(deps, tenant);
      const lastJob = await latestJobOf(pool, tenant.id);
      return {
        tenantId: tenant.id,
        ...status,
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
      const rows = await readTenantHistory(deps, tenant, {
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
