import { randomUUID } from "node:crypto";
import { extname } from "node:path";
import { pathToFileURL } from "node:url";
import { register, tsImport, type NamespacedUnregister } from "tsx/esm/api";

/** A module's namespace object: its exports by name. */
export type ModuleNamespace = Readonly<Record<string, unknown>>;

/** Imports revision modules; TypeScript ones through tsx. */
export interface ModuleImporter {
  /**
   * Imports the module at `path`. `cacheKey` (the content's checksum) identifies the version
   * of a JavaScript file, so that one edited on disk is imported anew.
   */
  import(path: string, cacheKey: string): Promise<ModuleNamespace>;
  /** Deactivates the tsx registration, if any. Modules already imported stay usable. */
  close(): Promise<void>;
}

/**
 * How TypeScript revisions are handed to tsx:
 * - `shared-registration`: one `register({ namespace })` for every file of the importer. Needed
 *   on Node 20, where each tsx registration adds an asynchronous loader hook to the process for
 *   good, so `tsImport` (one registration per call) made loading N files cost O(N²).
 * - `per-import`: `tsImport` per file. Needed from Node 23 on: there a CommonJS module loaded
 *   through an asynchronous hook goes to the CommonJS loader by file name, which keeps tsx's
 *   `?namespace=` query in the name, so a `.ts` revision outside an ES-module package (no
 *   `"type": "module"` above it) was "not found" on Node 24. `tsImport` uses Node's synchronous
 *   hooks there, which load it, and which it removes again, so its cost stays linear.
 */
export type TsImportStrategy = "shared-registration" | "per-import";

/** The strategy that works on the running Node (see {@link TsImportStrategy}). */
export function tsImportStrategyFor(nodeVersion: string = process.versions.node): TsImportStrategy {
  const major = Number.parseInt(nodeVersion, 10);
  return major >= 23 ? "per-import" : "shared-registration";
}

/**
 * A new importer. Either way every importer compiles each TypeScript file anew (a fresh tsx
 * namespace), so an edited revision is never served from a previous load.
 */
export function createModuleImporter(
  strategy: TsImportStrategy = tsImportStrategyFor(),
): ModuleImporter {
  let registration: NamespacedUnregister | null = null;
  return {
    async import(path, cacheKey) {
      const url = pathToFileURL(path);
      const extension = extname(path);
      if (extension === ".ts" || extension === ".mts") {
        if (strategy === "per-import") {
          return (await tsImport(url.href, import.meta.url)) as ModuleNamespace;
        }
        registration ??= register({ namespace: randomUUID() });
        return (await registration.import(url.href, import.meta.url)) as ModuleNamespace;
      }
      // Node caches modules by URL: keying on the content reloads a file changed on disk in a
      // long-lived process, and still shares the cached module when it did not change.
      url.searchParams.set("v", cacheKey);
      return (await import(url.href)) as ModuleNamespace;
    },
    async close() {
      await registration?.unregister();
      registration = null;
    },
  };
}
