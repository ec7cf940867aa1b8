import Fastify from "fastify";
import type { Registry } from "prom-client";
import { sendMetrics } from "../http/metrics.js";

export interface WorkerMetricsServer {
  /** Where it listens, e.g. http://127.0.0.1:9464. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * `GET /metrics` for a process without the API (`fleetway worker`): the steps its workers
 * commit are observed in its own memory, which no API instance can report.
 */
export async function startWorkerMetricsServer(
  registry: Registry,
  host: string,
  port: number,
): Promise<WorkerMetricsServer> {
  const app = Fastify({ logger: false });
  app.get("/metrics", (_request, reply) => sendMetrics(reply, registry));
  const url = await app.listen({ host, port });
  return { url, close: () => app.close() };
}
