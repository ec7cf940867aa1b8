import type { FastifyReply } from "fastify";
import type pg from "pg";
import { Gauge, Histogram, Registry } from "prom-client";
import { countJobsByState } from "../control/job-store.js";
import { notificationQueueUsage } from "../control/notification-queue.js";
import type { MigrationQueue } from "../jobs/migration-queue.js";

/** The service's Prometheus metrics, on a registry of its own (no global state). */
export interface ServiceMetrics {
  readonly registry: Registry;
  /** Observed by in-process workers for every committed step. */
  readonly stepDuration: Histogram<"direction">;
}

/**
 * Job counts, queue depth and the control database's NOTIFY queue usage are read when Prometheus
 * scrapes, from the control database and Redis, so every API instance reports the same fleet-wide
 * numbers.
 */
export function createServiceMetrics(pool: pg.Pool, queue: MigrationQueue): ServiceMetrics {
  const registry = new Registry();
  new Gauge({
    name: "fleetway_jobs",
    help: "Migration jobs by state (control database; finished ones until FLEETWAY_RETENTION_DAYS deletes them)",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      const counts = await countJobsByState(pool);
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });
  new Gauge({
    name: "fleetway_queue_depth",
    help: "Migration queue entries by BullMQ state",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      const counts = await queue.getJobCounts("waiting", "active", "delayed", "failed");
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });
  new Gauge({
    name: "fleetway_control_notify_queue_usage_ratio",
    help:
      "Share of the control database server's NOTIFY queue in use (pg_notification_queue_usage(), 0 to 1); " +
      "from 0.5 on, job ends are not announced and waiting requests find them by reading again",
    registers: [registry],
    async collect() {
      this.set(await notificationQueueUsage(pool));
    },
  });
  return { registry, stepDuration: stepDurationHistogram(registry) };
}

/**
 * What `fleetway worker` reports on its own metrics port: only what happens in the process. The
 * fleet-wide gauges come from the API instances; a worker repeating them would count them twice
 * in a sum over instances.
 */
export function createWorkerMetrics(): ServiceMetrics {
  const registry = new Registry();
  return { registry, stepDuration: stepDurationHistogram(registry) };
}

/**
 * Answers a Prometheus scrape (`GET /metrics` of the API and of `fleetway worker`): the
 * registry's metrics in its exposition format.
 */
export async function sendMetrics(reply: FastifyReply, registry: Registry): Promise<FastifyReply> {
  const body = await registry.metrics();
  return reply.type(registry.contentType).send(body);
}

function stepDurationHistogram(registry: Registry): Histogram<"direction"> {
  return new Histogram({
    name: "fleetway_step_duration_seconds",
    help: "Duration of committed migration steps (observed by the workers of the process)",
    labelNames: ["direction"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
}
