/**
 * bench:api's floor for a route that reads the database: a bare Fastify server that answers
 * `GET /jobs/:id` with the same SELECT as Fleetway's `GET /v1/jobs/{id}` (same columns, a named
 * statement, a pool of connections), and nothing else: no API key, no validation, no response
 * schema, no date conversion. What it costs beyond the bare hello-world is the database round
 * trip itself; what Fleetway's GET costs beyond it is Fleetway. Reads CONTROL_DATABASE_URL; prints
 * its URL on stdout once listening.
 */
import Fastify from "fastify";
import pg from "pg";
import { jobColumns } from "../../src/control/job-record.js";

const pool = new pg.Pool({ connectionString: process.env.CONTROL_DATABASE_URL, max: 20 });
// An idle connection ended by the server (the benchmark drops the database at the end) is only
// dropped from the pool; without a listener it would crash the process.
pool.on("error", () => undefined);
const text = `SELECT ${jobColumns()} FROM jobs WHERE id = $1`;
const app = Fastify();
app.get<{ Params: { id: string } }>("/jobs/:id", async (request, reply) => {
  const { rows } = await pool.query({ name: "job", text, values: [request.params.id] });
  if (rows[0] === undefined) return reply.code(404).send({ error: "not found" });
  return rows[0] as unknown;
});
const url = await app.listen({ port: 0, host: "127.0.0.1" });
process.stdout.write(`${url}\n`);
process.once("SIGTERM", () => {
  void app
    .close()
    .then(() => pool.end())
    .then(() => process.exit(0));
});
