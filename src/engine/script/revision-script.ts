/**
 * What a revision file becomes once loaded: its Alembic metadata, its bodies and its checksum.
 * Both formats (`.sql` and `.ts`/`.js` modules) load into this one shape.
 */

/** What a `.ts`/`.js` revision's `upgrade`/`downgrade` receives. */
export interface MigrationContext {
  /** Runs one statement on the tenant connection (inside the step's transaction when it has one). */
  query(sql: string, params?: readonly unknown[]): Promise<QueryResult>;
  /** The schema the revision applies to (the tenant's schema; also first on the search_path). */
  readonly schema: string;
  /** Aborted when the run is cancelled: long loops should check it between batches. */
  readonly signal: AbortSignal;
  /** Progress or diagnostic message, surfaced in the job's events. */
  log(message: string): void;
}

export interface QueryResult {
  readonly rows: Record<string, unknown>[];
  readonly rowCount: number;
}

/** The body of one direction of a revision. */
export type MigrationBody =
  | { readonly kind: "sql"; readonly sql: string; readonly line: number }
  | { readonly kind: "function"; readonly run: (ctx: MigrationContext) => Promise<void> };

/** The graph-relevant part of a revision. Tests build literal graphs from this shape alone. */
export interface RevisionSpec {
  readonly id: string;
  /** Empty for a root; several for a merge revision. */
  readonly downRevisions: readonly string[];
  readonly branchLabels?: readonly string[];
  /** Ids or branch labels this revision depends on (Alembic's `depends_on`). */
  readonly dependsOn?: readonly string[];
  readonly message?: string;
}

/** A loaded revision file. */
export interface RevisionScript extends RevisionSpec {
  readonly message: string;
  readonly branchLabels: readonly string[];
  readonly dependsOn: readonly string[];
  /** False for revisions that must run outside a transaction (e.g. CREATE INDEX CONCURRENTLY). */
  readonly transactional: boolean;
  readonly path: string;
  readonly format: "sql" | "module";
  /** sha256 (hex) of the file's normalized content: line endings and trailing blanks do not count. */
  readonly checksum: string;
  readonly upgrade: MigrationBody;
  /** Null when the file has no downgrade: such a revision cannot be downgraded. */
  readonly downgrade: MigrationBody | null;
}
