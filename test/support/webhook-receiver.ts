/** A local HTTP endpoint that records what it receives and answers as each test scripts it. */
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** How to answer one request: a status (and headers), or never. */
export type Reply = { readonly status: number; readonly headers?: Record<string, string> } | "hang";

export interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** Answers for a path, used in order; the last one repeats. Default: 200. */
  script(path: string, replies: Reply[]): void;
  /** Resolves once `count` requests to `path` (any path when omitted) have arrived. */
  waitFor(count: number, path?: string, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const scripts = new Map<string, Reply[]>();
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      const path = request.url ?? "/";
      received.push({
        path,
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const replies = scripts.get(path) ?? [];
      const reply = replies.length > 1 ? replies.shift() : replies[0];
      if (reply === "hang") {
        hanging.add(response);
        return;
      }
      response.writeHead(reply?.status ?? 200, reply?.headers ?? {});
      response.end("ok from the receiver");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    script(path, replies) {
      scripts.set(path, [...replies]);
    },
    async waitFor(count, path, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const matching = received.filter((r) => path === undefined || r.path === path);
        if (matching.length >= count) return matching;
        if (Date.now() > deadline)
          throw new Error(
            `${matching.length}/${count} requests to ${path ?? "*"} after ${timeoutMs} ms`,
          );
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}
