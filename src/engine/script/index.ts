/** Revision files: loading `.sql` and `.ts`/`.js` revisions, checksums, templates, statements. */
export type {
  MigrationBody,
  MigrationContext,
  QueryResult,
  RevisionScript,
  RevisionSpec,
} from "./revision-script.js";
export { normalizeRevisionContent, revisionChecksum } from "./checksum.js";
export { parseSqlRevision, SQL_HEADER_FIELDS } from "./parse-sql-revision.js";
export {
  loadModuleRevision,
  MODULE_EXTENSIONS,
  type RevisionModule,
} from "./load-module-revision.js";
export {
  isRevisionFileName,
  loadRevisionDirectory,
  REVISION_EXTENSIONS,
} from "./load-revision-directory.js";
export { splitSqlStatements, type SqlStatement } from "./split-sql-statements.js";
export { generateRevisionId } from "./generate-revision-id.js";
export {
  renderRevisionFile,
  slugifyMessage,
  type RenderedRevisionFile,
  type RenderRevisionOptions,
} from "./render-revision-file.js";
