import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { inTransaction } from "../../control/control-db.js";
import {
  deleteTenant,
  insertTenant,
  listTenants,
  requireTenant,
  updateTenant,
} from "../../control/tenant-store.js";
import { redactConnectionString } from "../../engine/runner/connect.js";
import { afterJobCommitted, createJob } from "../../jobs/submit-job.js";
import type { AppDeps } from "../app-deps.js";
import { ErrorResponses, PageQuery, pageOf, TenantId } from "../schemas/common-schemas.js";
import {
  CreateTenantBody,
  CreateTenantResponse,
  PatchTenantBody,
} from "../schemas/tenant-schemas.js";
import { jobView, tenantView } from "../views.js";

const TenantParams = Type.Object({ id: TenantId });

/** Registering, listing, changing and removing tenants. */
export function registerTenantRoutes(root: FastifyInstance, deps: AppDeps): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { pool } = deps;

  app.post(
    "/v1/tenants",
    {
      config: { scope: "write" },
      schema: {
        tags: ["tenants"],
        summary: "Register a tenant (optionally queue its first migration)",
        body: CreateTenantBody,
        response: { 201: CreateTenantResponse, ...ErrorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const created = await inTransaction(pool, async (tx) => {
        const tenant = await insertTenant(tx, {
          id: body.id,
          name: body.name,
          tags: body.tags ?? [],
          databaseUrlSealed: deps.secretBox.encrypt(body.databaseUrl),
          databaseUrlMasked: redactConnectionString(body.databaseUrl),
          schema: body.schema ?? "public",
        });
        // The first job commits with the tenant: the caller never sees one without the other.
        const job =
          body.migrateTo === undefined
            ? null
            : await createJob(deps, tx, {
                tenantId: tenant.id,
                operation: "upgrade",
                target: body.migrateTo,
              });
        return { tenant, job };
      });
      if (created.job !== null) await afterJobCommitted(deps, created.job);
      request.log.info(
        { tenantId: created.tenant.id, jobId: created.job?.job.id },
        "tenant registered",
      );
      return reply
        .status(201)
        .header("location", `/v1/tenants/${encodeURIComponent(created.tenant.id)}`)
        .send({
          tenant: tenantView(created.tenant),
          job: created.job === null ? null : jobView(created.job.job),
        });
    },
  );

  app.get(
    "/v1/tenants",
    {
      config: { scope: "read" },
      schema: {
        tags: ["tenants"],
        summary: "List tenants",
        querystring: Type.Object({
          ...PageQuery,
          tag: Type.Optional(Type.String()),
          revision: Type.Optional(
            Type.String({ description: "Tenants whose version table holds it" }),
          ),
          jobState: Type.Optional(Type.String({ description: "State of the tenant's latest job" })),
        }),
        response: { 200: pageOf(Type.Ref("Tenant")), ...ErrorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await listTenants(pool, {
        limit: q.limit ?? 50,
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        ...(q.tag === undefined ? {} : { tag: q.tag }),
        ...(q.revision === undefined ? {} : { revision: q.revision }),
        ...(q.jobState === undefined ? {} : { jobState: q.jobState }),
      });
      return { items: page.items.map(tenantView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    "/v1/tenants/:id",
    {
      config: { scope: "read" },
      schema: {
        tags: ["tenants"],
        summary: "One tenant",
        params: TenantParams,
        response: { 200: Type.Ref("Tenant"), ...ErrorResponses },
      },
    },
    async (request) => tenantView(await requireTenant(pool, request.params.id)),
  );

  app.patch(
    "/v1/tenants/:id",
    {
      config: { scope: "write" },
      schema: {
        tags: ["tenants"],
        summary: "Change a tenant's name, tags, database or schema",
        params: TenantParams,
        body: PatchTenantBody,
        response: { 200: Type.Ref("Tenant"), ...ErrorResponses },
      },
    },
    async (request) => {
      const { databaseUrl, ...rest } = request.body;
      const tenant = await updateTenant(pool, request.params.id, {
        ...rest,
        ...(databaseUrl === undefined
          ? {}
          : {
              databaseUrlSealed: deps.secretBox.encrypt(databaseUrl),
              databaseUrlMasked: redactConnectionString(databaseUrl),
            }),
      });
      return tenantView(tenant);
    },
  );

  app.delete(
    "/v1/tenants/:id",
    {
      config: { scope: "write" },
      schema: {
        tags: ["tenants"],
        summary: "Forget a tenant (refused while a job is active); its database is not touched",
        params: TenantParams,
        response: { 204: Type.Null(), ...ErrorResponses },
      },
    },
    async (request, reply) => {
      await inTransaction(pool, (tx) => deleteTenant(tx, request.params.id));
      return reply.status(204).send(null);
    },
  );
}
