/** Fleetway as it runs in production: an API process and a worker process, from the built bin. */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { Agent, request as httpRequest, type IncomingMessage } from "node:http";
import { createServer } from "node:net";
import { json } from "node:stream/consumers";
import { Redis } from "ioredis";
import { REDIS_URL } from "./bench-util.js";

const BIN = new URL("../../bin/fleetway.js", import.meta.url).pathname;

export interface FleetwayProcesses {
  readonly url: string;
  readonly apiKey: string;
  readonly api: ChildProcess;
  readonly worker: ChildProcess;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- callers name the JSON shape
  request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

export async function startFleetway(options: {
  controlDatabaseUrl: string;
  migrationsDir: string;
  concurrency: number;
  env?: Record<string, string>;
}): Promise<FleetwayProcesses> {
  const port = await freePort();
  const apiKey = `bench-${randomBytes(12).toString("hex")}`;
  const prefix = `{fleetway-bench-${randomBytes(4).toString("hex")}}`;
  const env = {
    ...process.env,
    PORT: String(port),
    HOST: "127.0.0.1",
    CONTROL_DATABASE_URL: options.controlDatabaseUrl,
    REDIS_URL,
    FLEETWAY_MIGRATIONS_DIR: options.migrationsDir,
    FLEETWAY_API_KEYS: `bench:admin:${apiKey}`,
    FLEETWAY_ENCRYPTION_KEY: "b".repeat(64),
    FLEETWAY_QUEUE_PREFIX: prefix,
    FLEETWAY_RATE_LIMIT_PER_MINUTE: "0",
    FLEETWAY_WORKER_CONCURRENCY: String(options.concurrency),
    LOG_LEVEL: "warn",
    ...options.env,
  };
  // BENCH_PROFILE_DIR=dir: the API and worker write V8 CPU profiles there when they stop
  // (open them in Chrome DevTools, or summarise with bench/profile-summary.ts).
  const profileDir = process.env.BENCH_PROFILE_DIR;
  const nodeArgs =
    profileDir === undefined || profileDir === ""
      ? []
      : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`];
  const api = spawn(process.execPath, [...nodeArgs, BIN, "api"], {
    env,
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url);
  const worker = spawn(process.execPath, [...nodeArgs, BIN, "worker"], {
    env,
    stdio: ["ignore", "ignore", "inherit"],
  });
  // node:http with a keep-alive agent rather than fetch: the client runs on the same cores as
  // Fleetway, and fetch cost it about 1.2 ms of CPU per request (a quarter of the machine in
  // bench:noop), which a deploy tool on its own machine would not take from Fleetway.
  const agent = new Agent({ keepAlive: true });
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- callers name the JSON shape
  const request = async <T>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(`${url}${path}`, {
      method,
      agent,
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(payload === undefined
          ? {}
          : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }),
      },
    });
    req.end(payload);
    // once() rejects on the request's 'error' (a refused connection, a reset socket).
    const [response] = (await once(req, "response")) as [IncomingMessage];
    return { status: response.statusCode ?? 0, body: (await json(response)) as T };
  };
  return {
    url,
    apiKey,
    api,
    worker,
    request,
    async stop() {
      agent.destroy();
      for (const child of [worker, api]) {
        if (child.exitCode === null) {
          child.kill("SIGTERM");
          await new Promise((resolve) => child.once("exit", resolve));
        }
      }
      const redis = new Redis(REDIS_URL);
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== "0");
      redis.disconnect();
    },
  };
}

async function waitReady(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`Fleetway at ${url} did not become ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
