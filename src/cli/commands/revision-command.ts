import { mkdir, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, FleetwayError, isFleetwayError } from "../../engine/errors.js";
import { buildRevisionGraph } from "../../engine/graph/build-revision-graph.js";
import type { RevisionGraph } from "../../engine/graph/revision-graph.js";
import type { RevisionNode } from "../../engine/graph/revision-node.js";
import { generateRevisionId } from "../../engine/script/generate-revision-id.js";
import { loadRevisionDirectory } from "../../engine/script/load-revision-directory.js";
import { renderRevisionFile } from "../../engine/script/render-revision-file.js";
import type { RevisionScript } from "../../engine/script/revision-script.js";
import type { CliIo } from "../cli-io.js";

export interface NewRevisionOptions {
  readonly dir: string;
  readonly message: string;
  readonly revId?: string;
  readonly format: "sql" | "ts";
  readonly branchLabels: readonly string[];
  readonly dependsOn: readonly string[];
}

/**
 * `fleetway revision`: Alembic's `generate_revision`. The new revision's down revision is the
 * current head, or `--head` (a head, `label@head`, or `base` for a new root); a non-head needs
 * `--splice`, which starts a new branch from it.
 */
export async function createRevision(
  io: CliIo,
  options: NewRevisionOptions & { readonly head?: string; readonly splice: boolean },
): Promise<string> {
  const graph = await loadGraph(options.dir);
  const head = options.head ?? "head";
  const parents = resolveParents(graph, head);
  if (!options.splice)
    refuseNonHeads(parents, "please specify --splice to create a new branch from this revision");
  return writeRevision(io, graph, {
    ...options,
    downRevisions: parents.map((p) => p.id),
  });
}

/** `fleetway merge`: a revision whose down revisions are the given revisions (or `heads`). */
export async function createMerge(
  io: CliIo,
  options: NewRevisionOptions & { readonly revisions: readonly string[] },
): Promise<string> {
  const graph = await loadGraph(options.dir);
  const parents = graph.getRevisions([...options.revisions]);
  const ids = [...new Set(parents.map((p) => p.id))];
  if (ids.length < 2) {
    throw usage(
      `A merge needs at least two revisions; '${options.revisions.join(" ")}' gives ${ids.length}`,
    );
  }
  // Alembic's merge is generate_revision without --splice: it joins heads, nothing else.
  refuseNonHeads(parents, "a merge joins heads (see `fleetway heads`)");
  return writeRevision(io, graph, { ...options, downRevisions: ids });
}

/** Alembic's check in generate_revision: a new revision goes on heads unless spliced. */
function refuseNonHeads(parents: readonly RevisionNode<RevisionScript>[], hint: string): void {
  const notHead = parents.find((p) => p.nextRevisions.size > 0);
  if (notHead !== undefined) throw usage(`Revision ${notHead.id} is not a head revision; ${hint}`);
}

function resolveParents(
  graph: RevisionGraph<RevisionScript>,
  head: string,
): RevisionNode<RevisionScript>[] {
  try {
    return graph.getRevisions(head);
  } catch (error) {
    if (isFleetwayError(error, ErrorCode.MULTIPLE_HEADS)) {
      throw new FleetwayError(
        ErrorCode.MULTIPLE_HEADS,
        "Multiple heads are present; please specify the head revision on which the new " +
          "revision should be based, or perform a merge.",
        error.data,
        { cause: error },
      );
    }
    throw error;
  }
}

async function loadGraph(dir: string): Promise<RevisionGraph<RevisionScript>> {
  await mkdir(dir, { recursive: true });
  return buildRevisionGraph(await loadRevisionDirectory(dir));
}

async function writeRevision(
  io: CliIo,
  graph: RevisionGraph<RevisionScript>,
  options: NewRevisionOptions & { readonly downRevisions: readonly string[] },
): Promise<string> {
  const id = options.revId ?? generateRevisionId();
  // Checked before writing: the file is named after the id, and a path in it would land outside
  // the directory, where the check below (which loads the directory) would never see it.
  if (/[/\\]/.test(id)) throw usage(`--rev-id ${id}: a revision id cannot contain / or \\`);
  if (graph.has(id)) throw usage(`Revision ${id} already exists`);
  const dependsOn = options.dependsOn.map((dep) => {
    const node = graph.getRevision(dep);
    if (node === null) throw usage(`--depends-on ${dep} does not name a revision`);
    // Keep branch labels as written (Alembic does): they follow the branch as it grows.
    return graph.branchLabels.has(dep) ? dep : node.id;
  });
  const { fileName, content } = renderRevisionFile({
    format: options.format,
    id,
    downRevisions: [...options.downRevisions],
    message: options.message,
    branchLabels: [...options.branchLabels],
    dependsOn,
    createdAt: io.now(),
  });
  const path = join(options.dir, fileName);
  await writeFile(path, content, { flag: "wx" });
  try {
    // Validate the directory with the new file in it, exactly as every other verb will load it.
    buildRevisionGraph(await loadRevisionDirectory(options.dir));
  } catch (error) {
    await unlink(path);
    throw error;
  }
  io.stdout(`Generating ${path} ...  done\n`);
  return path;
}

function usage(message: string): FleetwayError {
  return new FleetwayError(ErrorCode.USAGE_ERROR, message);
}
