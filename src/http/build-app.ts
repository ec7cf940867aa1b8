import { randomUUID } from "node:crypto";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { AppDeps } from "./app-deps.js";
import { registerApiKeyAuth } from "./plugins/api-key-auth.js";
import { registerIdempotency } from "./plugins/idempotency.js";
import { registerProblemErrors } from "./plugins/problem-errors.js";
import { registerHealthRoutes } from "./routes/health-routes.js";
import { registerJobRoutes } from "./routes/job-routes.js";
import { registerMigrationRoutes, RevisionSchema } from "./routes/migration-routes.js";
import { registerTenantRoutes } from "./routes/tenant-routes.js";
import { registerWebhookRoutes, WEBHOOK_SCHEMAS } from "./routes/webhook-routes.js";
import { registerRolloutRoutes, ROLLOUT_SCHEMAS } from "./routes/rollout-routes.js";
import { registerFleetRoutes } from "./routes/fleet-routes.js";
import { registerTenantStateRoutes } from "./routes/tenant-state-routes.js";
import { ProblemSchema } from "./schemas/common-schemas.js";
import { JobSchema } from "./schemas/job-schemas.js";
import { TenantSchema } from "./schemas/tenant-schemas.js";

export const API_VERSION = "1.0.0";

/**
 * The Fastify app: every /v1 route behind API keys with scopes, problem+json errors, idempotent
 * POSTs, rate limits, and the OpenAPI document generated from the routes' TypeBox schemas.
 * Building it connects to nothing; handlers use the pools and queue they are given.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  // Typed as Fastify's logger so the app keeps Fastify's default instance type.
  const logger: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: deps.bodyLimit,
    requestIdHeader: "x-request-id",
    genReqId: () => randomUUID(),
    ajv: {
      // Unknown fields are an error (a typo must not be silently dropped).
      // (Fastify's compiler already includes ajv-formats: date-time, uri, uuid...)
      customOptions: { removeAdditional: false, coerceTypes: "array", useDefaults: true },
    },
  });
  app.addHook("onSend", async (request, reply, payload) => {
    reply.header("x-request-id", request.id);
    return payload;
  });

  registerProblemErrors(app);
  // Before any plugin: their request decorators must exist in every context, /docs included.
  registerApiKeyAuth(app, deps.apiKeys);
  registerIdempotency(app, deps.pool, deps.secretBox);
  for (const schema of [
    ProblemSchema,
    TenantSchema,
    JobSchema,
    RevisionSchema,
    ...WEBHOOK_SCHEMAS,
    ...ROLLOUT_SCHEMAS,
  ]) {
    app.addSchema(schema);
  }

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Fleetway API",
        version: API_VERSION,
        description:
          "Migration-as-a-service for multi-tenant PostgreSQL: register tenants, queue Alembic-style " +
          "migrations, follow jobs. Errors are application/problem+json with a stable `code`.",
      },
      components: {
        securitySchemes: {
          apiKey: { type: "http", scheme: "bearer", description: "Fleetway API key" },
        },
      },
      security: [{ apiKey: [] }],
      tags: [
        { name: "tenants", description: "Tenant databases and their state" },
        { name: "jobs", description: "Migration jobs" },
        { name: "migrations", description: "The migration set and plans" },
        { name: "rollouts", description: "Fleet-wide rollouts and the fleet view" },
        { name: "webhooks", description: "Signed event callbacks and their delivery log" },
        { name: "health", description: "Probes and metrics" },
      ],
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === "string" ? json.$id : `def-${i}`,
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });

  if (deps.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      global: true,
      max: deps.rateLimitPerMinute,
      timeWindow: "1 minute",
      // Per API key by its name (authentication ran first, so the same key written any way the
      // Authorization header allows, Bearer/bearer and any spacing, has one budget), else per IP.
      keyGenerator: (request) =>
        request.principal === null ? `ip:${request.ip}` : `key:${request.principal.name}`,
      allowList: (request) => !request.url.startsWith("/v1/"),
      errorResponseBuilder: (_request, context) => ({
        statusCode: 429,
        message: `Rate limit of ${context.max} requests per ${context.after} exceeded`,
      }),
    });
  }

  registerHealthRoutes(app, deps);
  registerTenantRoutes(app, deps);
  registerTenantStateRoutes(app, deps);
  registerJobRoutes(app, deps);
  registerMigrationRoutes(app, deps);
  registerWebhookRoutes(app, deps);
  registerRolloutRoutes(app, deps);
  registerFleetRoutes(app, deps);
  return app;
}
