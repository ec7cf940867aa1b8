import { createHash } from "node:crypto";
import { relative } from "node:path";
import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { requireTenant } from "../../control/tenant-store.js";
import { ErrorCode, FleetwayError } from "../../engine/errors.js";
import { isBranchPoint, isMergePoint } from "../../engine/graph/revision-node.js";
import type { Migrations } from "../../engine/load-migrations.js";
import { planForTenant } from "../../jobs/read-tenant-state.js";
import type { AppDeps } from "../app-deps.js";
import {
  ErrorResponses,
  Heads,
  TenantId,
  TenantReadErrorResponses,
} from "../schemas/common-schemas.js";

const RevisionSchema = Type.Object(
  {
    revision: Type.String(),
    downRevisions: Type.Array(Type.String()),
    dependsOn: Type.Array(Type.String()),
    branchLabels: Type.Array(Type.String()),
    message: Type.String(),
    file: Type.String(),
    format: Type.String(),
    transactional: Type.Boolean(),
    reversible: Type.Boolean(),
    checksum: Type.String(),
    isHead: Type.Boolean(),
    isBranchPoint: Type.Boolean(),
    isMergePoint: Type.Boolean(),
  },
  { $id: "Revision" },
);

/** sha256 over every revision's id and checksum: equal digests mean identical migration sets. */
export function scriptsDigest(migrations: Migrations): string {
  const hash = createHash("sha256");
  for (const script of [...migrations.graph.revisions].sort((a, b) => a.id.localeCompare(b.id))) {
    hash.update(`${script.id}:${script.checksum}\n`);
  }
  return hash.digest("hex");
}

function revisionView(migrations: Migrations, id: string) {
  const { graph } = migrations;
  const node = graph.node(id);
  const spec = node.spec;
  return {
    revision: id,
    downRevisions: [...node.downRevisions],
    dependsOn: [...spec.dependsOn],
    branchLabels: [...node.branchLabels],
    message: spec.message,
    file: relative(migrations.dir, spec.path),
    format: spec.format,
    transactional: spec.transactional,
    reversible: spec.downgrade !== null,
    checksum: spec.checksum,
    isHead: graph.realHeads.includes(id),
    isBranchPoint: isBranchPoint(node),
    isMergePoint: isMergePoint(node),
  };
}

/** The migration set the service runs, and offline plans against a tenant's live heads. */
export function registerMigrationRoutes(root: FastifyInstance, deps: AppDeps): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { migrations } = deps;
  const digest = scriptsDigest(migrations);

  app.get(
    "/v1/migrations",
    {
      config: { scope: "read" },
      schema: {
        tags: ["migrations"],
        summary: "The revisions, heads, branches and a digest of the scripts",
        response: {
          200: Type.Object({
            heads: Heads,
            bases: Type.Array(Type.String()),
            branchLabels: Type.Record(Type.String(), Type.String()),
            scriptsDigest: Type.String(),
            revisions: Type.Array(Type.Ref("Revision")),
          }),
          ...ErrorResponses,
        },
      },
    },
    async () => {
      const { graph } = migrations;
      return {
        heads: [...graph.realHeads],
        bases: [...graph.realBases],
        branchLabels: Object.fromEntries(graph.branchLabels),
        scriptsDigest: digest,
        revisions: graph.revisions.map((r) => revisionView(migrations, r.id)),
      };
    },
  );

  app.get(
    "/v1/migrations/:revision",
    {
      config: { scope: "read" },
      schema: {
        tags: ["migrations"],
        summary: "One revision (full id or unique prefix)",
        params: Type.Object({ revision: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 200: Type.Ref("Revision"), ...ErrorResponses },
      },
    },
    async (request) => {
      const node = migrations.graph.revisionForIdent(request.params.revision);
      if (node === null)
        throw new FleetwayError(ErrorCode.UNKNOWN_REVISION, "base is not a revision");
      return revisionView(migrations, node.id);
    },
  );

  app.get(
    "/v1/plan",
    {
      config: { scope: "read" },
      schema: {
        tags: ["migrations"],
        summary: "What a job would do to a tenant now: steps and SQL (changes nothing)",
        querystring: Type.Object({
          tenant: TenantId,
          target: Type.String({ minLength: 1 }),
          operation: Type.Optional(
            Type.Union([Type.Literal("upgrade"), Type.Literal("downgrade"), Type.Literal("stamp")]),
          ),
        }),
        response: {
          200: Type.Object({
            tenantId: Type.String(),
            operation: Type.String(),
            target: Type.String(),
            fromHeads: Heads,
            toHeads: Heads,
            steps: Type.Array(
              Type.Object({
                revision: Type.Union([Type.String(), Type.Null()]),
                direction: Type.String(),
              }),
            ),
            sql: Type.String(),
          }),
          ...ErrorResponses,
          ...TenantReadErrorResponses,
        },
      },
    },
    async (request) => {
      const { tenant: tenantId, target } = request.query;
      const operation = request.query.operation ?? "upgrade";
      const tenant = await requireTenant(deps.pool, tenantId);
      const { plan, sql } = await planForTenant(deps, tenant, { operation, target });
      return {
        tenantId,
        operation,
        target,
        fromHeads: [...plan.fromHeads],
        toHeads: [...plan.toHeads],
        steps: plan.steps.map((s) =>
          s.kind === "revision"
            ? { revision: s.revision, direction: s.direction }
            : { revision: s.to[0] ?? null, direction: "stamp" },
        ),
        sql,
      };
    },
  );
}

export { RevisionSchema };
