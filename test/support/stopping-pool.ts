import type pg from "pg";

/**
 * `pool` as a process that stops for good once `stopped()` (checked after each of its statements
 * succeeds) says so: every later statement fails, on the pool and on clients it lends out. It
 * shows what a process stopping between two statements leaves behind.
 */
export function stoppingPool(pool: pg.Pool, stopped: () => Promise<boolean>): pg.Pool {
  let stop = false;
  const query = async (
    target: { query: (text: string, values?: unknown[]) => Promise<pg.QueryResult> },
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult> => {
    if (stop) throw new Error("process stopped");
    const result = await target.query(text, values);
    if (await stopped()) stop = true;
    return result;
  };
  const wrapClient = (client: pg.PoolClient): pg.PoolClient =>
    new Proxy(client, {
      get: (target, property, receiver): unknown =>
        property === "query"
          ? (text: string, values?: unknown[]) => query(target, text, values)
          : Reflect.get(target, property, receiver),
    });
  return new Proxy(pool, {
    get: (target, property, receiver): unknown => {
      if (property === "query")
        return (text: string, values?: unknown[]) => query(target, text, values);
      if (property === "connect") return async () => wrapClient(await target.connect());
      return Reflect.get(target, property, receiver);
    },
  });
}
