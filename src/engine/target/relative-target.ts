/**
 * The relative target syntax: `+N`, `-N`, `<rev>+N`, `<rev>-N`, `label@+N`, `label@-N`,
 * `label@<rev>+N`. Alembic's `_relative_destination` pattern.
 */
export interface RelativeTarget {
  readonly branchLabel: string | null;
  /** The revision the walk starts from; null means "from the current heads". */
  readonly symbol: string | null;
  /** Signed number of steps. */
  readonly delta: number;
  /** The delta as written, for messages (`+5`, `-1`). */
  readonly written: string;
}

const RELATIVE = /^(?:(.+?)@)?(\w+)?([+-]\d+)$/;

/** Parses a relative target, or returns null when the target is absolute. */
export function parseRelativeTarget(target: string): RelativeTarget | null {
  const match = RELATIVE.exec(target);
  if (match === null) return null;
  const [, branchLabel, symbol, written] = match;
  if (written === undefined) return null;
  return {
    branchLabel: branchLabel ?? null,
    symbol: symbol ?? null,
    delta: Number.parseInt(written, 10),
    written,
  };
}

/** Splits an absolute `label@symbol` target (Alembic's `rpartition("@")`). */
export function splitBranchTarget(target: string): { branchLabel: string | null; symbol: string } {
  const at = target.lastIndexOf("@");
  if (at <= 0) return { branchLabel: null, symbol: at === 0 ? target.slice(1) : target };
  return { branchLabel: target.slice(0, at), symbol: target.slice(at + 1) };
}
