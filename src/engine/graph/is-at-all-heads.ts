/**
 * Whether a database whose version table holds `rows` is at head: the rows are exactly the heads
 * `upgrade heads` leaves (`realHeads`), compared as sets. Fleetway's one definition, used by
 * `fleetway current --check-heads` and `--json`'s `atHead`, the service's tenant status `atHead`
 * and the fleet view's count.
 *
 * It is Alembic's `current --check-heads` test (1.17.1: `set(context.get_current_heads()) ==
 * set(script.get_heads())`), so:
 * - an empty database is at head only over an empty migration set (two empty sets), and then it
 *   is: there is nothing to upgrade to;
 * - a database a revision behind on any branch is not, nor is one with a row the set lacks (ahead
 *   of it, or a wrong set), nor one with a row below another row.
 *
 * Deliberately different from Alembic: the heads are `realHeads`, without a revision that others
 * only `depends_on`. Alembic's `get_heads()` keeps that one, which no upgraded database holds as a
 * row, so there the test could never pass (alembic#1806).
 */
export function isAtAllHeads(
  graph: { readonly realHeads: readonly string[] },
  rows: readonly string[],
): boolean {
  const current = new Set(rows);
  return current.size === graph.realHeads.length && graph.realHeads.every((h) => current.has(h));
}
