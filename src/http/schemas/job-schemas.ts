import { Type, type Static } from "typebox";
import { Heads } from "./common-schemas.js";

export const JobState = Type.Union([
  Type.Literal("queued"),
  Type.Literal("running"),
  Type.Literal("succeeded"),
  Type.Literal("failed"),
  Type.Literal("cancelled"),
]);

export const JobStepSchema = Type.Object({
  revision: Type.Union([Type.String(), Type.Null()]),
  direction: Type.String(),
  state: Type.String(),
  startedAt: Type.Union([Type.String(), Type.Null()]),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  durationMs: Type.Union([Type.Number(), Type.Null()]),
  attempts: Type.Integer(),
});

export const JobSchema = Type.Object(
  {
    id: Type.String({ format: "uuid" }),
    tenantId: Type.String(),
    operation: Type.String(),
    target: Type.String(),
    transactionMode: Type.String(),
    lockTimeoutMs: Type.Union([Type.Integer(), Type.Null()]),
    statementTimeoutMs: Type.Union([Type.Integer(), Type.Null()]),
    state: Type.String(),
    phase: Type.Union([Type.String(), Type.Null()]),
    fromHeads: Type.Union([Heads, Type.Null()]),
    toHeads: Type.Union([Heads, Type.Null()]),
    progress: Type.Object({
      stepsDone: Type.Integer(),
      stepsTotal: Type.Union([Type.Integer(), Type.Null()]),
      currentRevision: Type.Union([Type.String(), Type.Null()]),
    }),
    steps: Type.Array(JobStepSchema),
    error: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
    attempts: Type.Integer(),
    cancelRequested: Type.Boolean(),
    callbackUrl: Type.Union([Type.String(), Type.Null()], {
      description:
        "Credentials in the URL are never shown; keys without write scope, and webhook payloads, " +
        "get its origin only (path and query, where receivers keep tokens, as /[redacted])",
    }),
    rolloutId: Type.Union([Type.String(), Type.Null()], {
      description:
        "The rollout that launched the job; null for a job outside any rollout, and once its " +
        "rollout was deleted (FLEETWAY_RETENTION_DAYS after it ended)",
    }),
    createdAt: Type.String({ format: "date-time" }),
    startedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
    finishedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
    updatedAt: Type.String({ format: "date-time" }),
  },
  { $id: "Job" },
);

export const JobRequestBody = Type.Object(
  {
    operation: Type.Union([
      Type.Literal("upgrade"),
      Type.Literal("downgrade"),
      Type.Literal("stamp"),
    ]),
    target: Type.String({
      minLength: 1,
      maxLength: 200,
      description: "Any Alembic target: head, -1, base, label@head...",
    }),
    transactionMode: Type.Optional(Type.Union([Type.Literal("per-revision"), Type.Literal("all")])),
    lockTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000 })),
    statementTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
    callbackSecret: Type.Optional(
      Type.String({
        pattern: "^whsec_[A-Za-z0-9+/]{32,88}={0,2}$",
        description:
          "Signs this job's callbacks (Standard Webhooks); default: the service's FLEETWAY_CALLBACK_SECRET",
      }),
    ),
    callbackUrl: Type.Optional(
      Type.String({ format: "uri", pattern: "^https?://", maxLength: 2048 }),
    ),
  },
  { additionalProperties: false },
);
export type JobRequestBody = Static<typeof JobRequestBody>;

export const JobEventSchema = Type.Object({
  seq: Type.Integer(),
  type: Type.String(),
  data: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.String({ format: "date-time" }),
});
