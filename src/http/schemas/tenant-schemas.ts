import { Type, type Static } from "typebox";
import { Heads, Tag, TenantId, TEXT_WITHOUT_CONTROLS } from "./common-schemas.js";
import { JobRequestBody, JobSchema } from "./job-schemas.js";

/** `pg_` names are reserved by PostgreSQL: CREATE SCHEMA refuses them (42939) at the first job. */
const SchemaName = Type.String({ pattern: "^(?!pg_)[A-Za-z_][A-Za-z0-9_$]{0,62}$" });
/** Control characters are refused as in tags: PostgreSQL's text cannot hold NUL. */
const TenantName = Type.String({ minLength: 1, maxLength: 200, pattern: TEXT_WITHOUT_CONTROLS });
const Tags = Type.Array(Tag, { maxItems: 50 });
const DatabaseUrl = Type.String({
  pattern: "^postgres(ql)?://",
  maxLength: 2048,
  description: "Stored encrypted; responses only show it masked",
});

export const TenantSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    tags: Type.Array(Type.String()),
    databaseUrl: Type.String({ description: "Masked: the password is never returned" }),
    schema: Type.String(),
    heads: Type.Union([Heads, Type.Null()], {
      description:
        "Version table as last seen by Fleetway (by its last job, whatever its outcome, or a status read); null when never seen, or unknown since a job lost its connection during a step",
    }),
    headsSeenAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
    provisioned: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()], {
      description: "What Fleetway created for the tenant: {database} or {schema}",
    }),
    readyAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()], {
      description: "When its first migration succeeded",
    }),
    deletingSince: Type.Union([Type.String({ format: "date-time" }), Type.Null()], {
      description:
        "Since when its database or schema is being dropped (DELETE ?drop=true); null when it is not. " +
        "Meanwhile no job is created for it (409 TENANT_DELETING) and its databaseUrl and schema cannot change",
    }),
    createdAt: Type.String({ format: "date-time" }),
    updatedAt: Type.String({ format: "date-time" }),
  },
  { $id: "Tenant" },
);

export const CreateTenantBody = Type.Object(
  {
    id: TenantId,
    name: TenantName,
    databaseUrl: Type.Optional(DatabaseUrl),
    schema: Type.Optional(SchemaName),
    tags: Type.Optional(Tags),
    provision: Type.Optional(
      Type.Union(
        [
          Type.Object(
            {
              database: Type.Literal(true),
              name: Type.Optional(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]{0,62}$" })),
            },
            { additionalProperties: false },
          ),
          Type.Object({ schema: Type.Literal(true) }, { additionalProperties: false }),
        ],
        {
          description:
            "Create the tenant's database (name default tenant_<id>) or schema first, through FLEETWAY_PROVISION_ADMIN_URL. " +
            "An existing one is accepted only if Fleetway created it for this tenant (409 PROVISIONING_CONFLICT otherwise)",
        },
      ),
    ),
    migrateTo: Type.Optional(
      Type.String({
        minLength: 1,
        description: "Queue an upgrade to this target in the same call",
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateTenantBody = Static<typeof CreateTenantBody>;

export const CreateTenantResponse = Type.Object({
  tenant: Type.Ref("Tenant"),
  job: Type.Union([Type.Ref("Job"), Type.Null()]),
});

export const PatchTenantBody = Type.Object(
  {
    name: Type.Optional(TenantName),
    databaseUrl: Type.Optional(DatabaseUrl),
    schema: Type.Optional(SchemaName),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type PatchTenantBody = Static<typeof PatchTenantBody>;

export const TenantStatusSchema = Type.Object({
  tenantId: Type.String(),
  heads: Heads,
  atHead: Type.Boolean({
    description:
      "The version table's rows are exactly the heads an upgrade to heads leaves (as `fleetway current --check-heads`): an empty database is at head only when the migration set is empty",
  }),
  pending: Type.Array(Type.String(), {
    description: "Revisions an upgrade to heads would apply, in order",
  }),
  unknownHeads: Type.Array(Type.String(), {
    description: "Rows of the version table not in the migration set",
  }),
  checksumMismatches: Type.Array(
    Type.Object({ revision: Type.String(), applied: Type.String(), current: Type.String() }),
  ),
  lastJob: Type.Union([Type.Ref("Job"), Type.Null()]),
});

export const HistoryEntrySchema = Type.Object({
  id: Type.Integer(),
  revision: Type.Union([Type.String(), Type.Null()]),
  direction: Type.String(),
  operation: Type.String(),
  checksum: Type.Union([Type.String(), Type.Null()]),
  startedAt: Type.String({ format: "date-time" }),
  finishedAt: Type.String({ format: "date-time" }),
  durationMs: Type.Integer(),
  success: Type.Boolean(),
  error: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  jobId: Type.Union([Type.String(), Type.Null()]),
  appliedBy: Type.Union([Type.String(), Type.Null()]),
  headsAfter: Heads,
});

export { JobRequestBody, JobSchema };
