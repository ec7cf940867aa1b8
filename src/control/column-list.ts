/**
 * "a, b, c" (or "t.a, t.b, t.c") for a row type, from a record naming each of its columns once:
 * the compiler checks the record against the row interface, so the list cannot drift from it.
 * Statements list their columns rather than select `*` so that they can be prepared
 * (see prepared-statements.ts) and so that a column added later changes nothing they return.
 */
export function columnList<Row>(columns: Record<keyof Row & string, true>, alias?: string): string {
  const prefix = alias === undefined ? "" : `${alias}.`;
  return Object.keys(columns)
    .map((column) => `${prefix}${column}`)
    .join(", ");
}
