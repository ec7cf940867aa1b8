import { randomUUID } from "node:crypto";
import { extname } from "node:path";
import { pathToFileURL } from "node:url";
import { register, type NamespacedUnregister } from "tsx/esm/api";

/** A module's namespace object: its exports by name. */
export type ModuleNamespace = Readonly<Record<string, unknown>>;

/** Imports revision modules; TypeScript ones through one tsx registration shared by all imports. */
export interface ModuleImporter {
  /**
   * Imports the module at `path`. `cacheKey` (the content's checksum) identifies the version
   * of a JavaScript file, so that one edited on disk is imported anew.
   */
  import(path: string, cacheKey: string): Promise<ModuleNamespace>;
  /** Deactivates the tsx registration. Modules already imported stay usable. */
  close(): Promise<void>;
}

/**
 * A new importer. Its tsx loader is registered on the first TypeScript import, under a fresh
 * namespace: a namespace compiles every file anew, so an edited revision is never served from a
 * previous load. Why one registration for many files: each registration adds a loader hook to
 * the process for good, and `tsImport` (one per call) made loading N files cost O(N²).
 */
export function createModuleImporter(): ModuleImporter {
  let registration: NamespacedUnregister | null = null;
  return {
    async import(path, cacheKey) {
      const url = pathToFileURL(path);
      const extension = extname(path);
      if (extension === ".ts" || extension === ".mts") {
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
