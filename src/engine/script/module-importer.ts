import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { extname } from "node:path";
import { pathToFileURL } from "node:url";
import { register as registerCommonJs } from "tsx/cjs/api";
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
  /** Removes the tsx registration. Modules already imported stay usable. */
  close(): Promise<void>;
}

interface TsxRegistration {
  readonly esm: NamespacedUnregister;
  readonly commonJs: { unregister(): void };
}

/**
 * A new importer. Its tsx loader is registered on the first TypeScript import, under a fresh
 * namespace: a namespace compiles every file anew, so an edited revision is never served from a
 * previous load. Why one registration for many files: `tsImport` registers anew on every call
 * and never unregisters, so loading N files that way cost O(N²) and left N sets of hooks in the
 * process for good.
 *
 * The registration has two halves under the same namespace. A `.ts` revision outside an
 * ES-module package (no `"type": "module"` above it) is compiled to CommonJS; from Node 23 on
 * such a module is loaded by the CommonJS loader by file name, with the namespace's query in the
 * name, and only tsx's CommonJS half resolves that name (without it Node 24 reported
 * "Cannot find module '…/x.ts?namespace=…'").
 */
export function createModuleImporter(): ModuleImporter {
  let registration: TsxRegistration | null = null;
  return {
    async import(path, cacheKey) {
      const url = pathToFileURL(path);
      const extension = extname(path);
      if (extension === ".ts" || extension === ".mts") {
        registration ??= registerTsx();
        return (await registration.esm.import(url.href, import.meta.url)) as ModuleNamespace;
      }
      // Node caches modules by URL: keying on the content reloads a file changed on disk in a
      // long-lived process, and still shares the cached module when it did not change. A .js
      // file in a CommonJS package is also cached by file name in require.cache, which the URL
      // does not reach: its entry goes, or an edit would be served the old module.
      url.searchParams.set("v", cacheKey);
      // (An unchanged file keeps its URL, which Node's module map answers before that cache.)
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a cache keyed by file name
      delete requireCache[path];
      return (await import(url.href)) as ModuleNamespace;
    },
    async close() {
      const closing = registration;
      registration = null;
      if (closing === null) return;
      closing.commonJs.unregister();
      await closing.esm.unregister();
    },
  };
}

/** Node's CommonJS module cache (the one every `require` shares). */
const requireCache = createRequire(import.meta.url).cache;

function registerTsx(): TsxRegistration {
  const namespace = randomUUID();
  return {
    esm: register({ namespace }),
    commonJs: registerCommonJs({ namespace }),
  };
}
