import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { inTransaction } from "../../control/control-db.js";
import { deleteTenant } from "../../control/tenant-deletion-store.js";
import {
  insertTenant,
  listTenants,
  requireTenant,
  updateTenant,
  getTenant,
  type Provisioned,
} from "../../control/tenant-store.js";
import { ErrorCode, FleetwayError } from "../../engine/errors.js";
import { redactConnectionString } from "../../engine/migrate.js";
import { dropTenant, nudgeRollouts } from "../../jobs/drop-tenant.js";
import {
  createTenantDatabase,
  createTenantSchema,
  provisionedDatabaseUrl,
  provisioningDisabled,
} from "../../jobs/provision-tenant.js";
import { scopeAllows } from "../plugins/api-key-auth.js";
import { afterJobCommitted, createJob } from "../../jobs/submit-job.js";
import { validateTarget } from "../../jobs/validate-target.js";
import type { AppDeps } from "../app-deps.js";
import { requireParsableDatabaseUrl } from "../database-url.js";
import {
  ErrorResponses,
  PageQuery,
  pageOf,
  ProvisioningErrorResponses,
  Tag,
  TenantId,
  TEXT_WITHOUT_CONTROLS,
} from "../schemas/common-schemas.js";
import {
  CreateTenantBody,
  CreateTenantResponse,
  PatchTenantBody,
} from "../schemas/tenant-schemas.js";
import { jobView, tenantView } from "../../webhooks/payload-views.js";
import { CALLBACK_URL_SCOPE, urlViewFor } from "../views.js";

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
        response: { 201: CreateTenantResponse, ...ErrorResponses, ...ProvisioningErrorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const { databaseUrl, schema, provisioned } = await provisionFor(deps, body);
      const created = await inTransaction(pool, async (tx) => {
        const tenant = await insertTenant(tx, {
          id: body.id,
          name: body.name,
          tags: body.tags ?? [],
          databaseUrlSealed: deps.secretBox.encrypt(databaseUrl),
          databaseUrlMasked: redactConnectionString(databaseUrl),
          schema,
          provisioned,
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
          job:
            created.job === null
              ? null
              : jobView(created.job.job, urlViewFor(request.principal, CALLBACK_URL_SCOPE)),
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
          tag: Type.Optional(Tag),
          revision: Type.Optional(
            Type.String({
              pattern: TEXT_WITHOUT_CONTROLS,
              description: "Tenants whose version table holds it",
            }),
          ),
          jobState: Type.Optional(
            Type.String({
              pattern: TEXT_WITHOUT_CONTROLS,
              description: "State of the tenant's latest job",
            }),
          ),
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
        description:
          "Its databaseUrl and schema cannot change while its database or schema is being dropped " +
          "(deletingSince set): 409 TENANT_DELETING.",
        params: TenantParams,
        body: PatchTenantBody,
        response: { 200: Type.Ref("Tenant"), ...ErrorResponses },
      },
    },
    async (request) => {
      const { databaseUrl, ...rest } = request.body;
      if (databaseUrl !== undefined) requireParsableDatabaseUrl(databaseUrl);
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
        summary: "Forget a tenant (refused while a job is active)",
        description:
          "Without drop its database is not touched. drop=true (admin scope) also drops what Fleetway " +
          "provisioned for it (its database or schema), and only that: what still carries the mark " +
          "Fleetway put on it when it created it (refused with 409 PROVISIONING_CONFLICT otherwise). " +
          "The tenant is deleted only once the drop succeeded: a drop that fails (504 " +
          "PROVISIONING_TIMEOUT, 502 PROVISIONING_FAILED, 409 PROVISIONING_CONFLICT) keeps it " +
          "registered, and the same request can be retried. While the drop runs the tenant shows " +
          "deletingSince, no job is created for it (409 TENANT_DELETING, as for a second drop=true " +
          "of it), and it takes jobs again if the drop fails.",
        params: TenantParams,
        querystring: Type.Object({ drop: Type.Optional(Type.Boolean({ default: false })) }),
        response: {
          204: Type.Null(),
          ...ErrorResponses,
          ...ProvisioningErrorResponses,
          503: Type.Ref("Problem", {
            description:
              "DELETION_OUTCOME_UNKNOWN (drop=true): the control database's connection was lost " +
              "while the tenant was being marked as being deleted, so whether it is marked is " +
              "unknown; nothing was dropped. Retry the same request",
          }),
        },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      if (request.query.drop === true) {
        if (request.principal === null || !scopeAllows(request.principal.scope, "admin")) {
          throw new FleetwayError(
            ErrorCode.FORBIDDEN,
            "drop=true needs an API key with scope 'admin'",
          );
        }
        const dropped = await dropTenant(deps, id);
        request.log.info(
          { tenantId: id, dropped },
          "tenant deleted and its provisioned resources dropped",
        );
        return reply.status(204).send(null);
      }
      await inTransaction(pool, (tx) => deleteTenant(tx, id));
      // A rollout that passed over the tenant while a drop marked it (a mark this forgets) skips
      // it now rather than at its next tick.
      await nudgeRollouts(deps, id);
      return reply.status(204).send(null);
    },
  );
}

/**
 * Where the tenant lives, creating it first when asked: `provision.database` creates a database
 * (through the admin connection) and points the tenant at it; `provision.schema` creates the
 * tenant's schema in the given database. Either is marked as this tenant's (provisionMark), and an
 * existing one is accepted only with that mark.
 */
async function provisionFor(
  deps: AppDeps,
  body: CreateTenantBody,
): Promise<{ databaseUrl: string; schema: string; provisioned: Provisioned | null }> {
  const schema =
    body.schema ??
    (body.provision !== undefined && "schema" in body.provision ? body.id : "public");
  if (body.databaseUrl !== undefined) requireParsableDatabaseUrl(body.databaseUrl);
  if (body.provision === undefined) {
    if (body.databaseUrl === undefined)
      throw new FleetwayError(
        ErrorCode.VALIDATION_ERROR,
        "databaseUrl is required unless provision.database is set",
      );
    return { databaseUrl: body.databaseUrl, schema, provisioned: null };
  }
  // Judged before anything is created: a refused target would otherwise leave the database behind.
  if (body.migrateTo !== undefined)
    validateTarget(deps.migrations, "upgrade", body.migrateTo, null);
  if (await getTenant(deps.pool, body.id)) {
    throw new FleetwayError(ErrorCode.TENANT_EXISTS, `Tenant '${body.id}' already exists`, {
      tenantId: body.id,
    });
  }
  if ("database" in body.provision) {
    if (deps.provisionAdminUrl === null) throw provisioningDisabled();
    const database = body.provision.name ?? `tenant_${body.id.replace(/[^A-Za-z0-9_]/g, "_")}`;
    await createTenantDatabase(deps.provisionAdminUrl, database, body.id, deps.provisionLimits);
    return {
      databaseUrl: body.databaseUrl ?? provisionedDatabaseUrl(deps.provisionAdminUrl, database),
      schema,
      provisioned: { database },
    };
  }
  const databaseUrl = body.databaseUrl ?? deps.provisionAdminUrl;
  if (databaseUrl === null) throw provisioningDisabled();
  await createTenantSchema(databaseUrl, schema, body.id, deps.provisionLimits);
  return { databaseUrl, schema, provisioned: { schema } };
}
