/**
 * The bare Fastify hello-world that bench:api compares Fleetway's API with. It runs in a process
 * of its own, as Fleetway's API does, so that neither shares a thread with autocannon. Prints its
 * URL on stdout once listening.
 */
import Fastify from "fastify";

const app = Fastify();
app.get("/hello", (_request, reply) => {
  void reply.send({ hello: "world" });
});
const url = await app.listen({ port: 0, host: "127.0.0.1" });
process.stdout.write(`${url}\n`);
process.once("SIGTERM", () => {
  void app.close().then(() => process.exit(0));
});
