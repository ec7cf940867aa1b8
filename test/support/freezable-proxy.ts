import net from "node:net";

/**
 * A TCP proxy in front of PostgreSQL that can stop answering without closing anything, as a
 * server behind a dropped network link or a hung host does: after `freeze()` no byte goes either
 * way, and new connections are accepted but never answered.
 */
export interface FreezableProxy {
  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string;
  freeze(): void;
  close(): Promise<void>;
}

export async function startFreezableProxy(
  target = { host: "127.0.0.1", port: 5432 },
): Promise<FreezableProxy> {
  let frozen = false;
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  };
  const server = net.createServer((client) => {
    track(client);
    if (frozen) return;
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    client.on("data", (chunk) => {
      if (!frozen) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!frozen) client.write(chunk);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    through(url) {
      const proxied = new URL(url);
      proxied.hostname = "127.0.0.1";
      proxied.port = String(port);
      return proxied.toString();
    },
    freeze() {
      frozen = true;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
