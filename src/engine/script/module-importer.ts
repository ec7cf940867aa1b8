import { randomUUID } from "node:crypto";
import { realpath } from "node:fs/promises";
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
      // long-lived process, and still shares the cached module when it did not change.
      url.searchParams.set("v", cacheKey);
      await forgetEditedCommonJs(path, cacheKey);
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

/** Node's CommonJS module cache (the one every `require` shares), keyed by real path. */
const requireCache = createRequire(import.meta.url).cache;

/**
 * The content key each JavaScript revision was last imported with, by real path. Process-wide,
 * like the require.cache it guards.
 */
const importedKeys = new Map<string, string>();

/**
 * A .js revision in a CommonJS package is also cached in require.cache, by its real path, which
 * the `?v=` URL does not reach: once its content changed, its entry goes, or the edit would be
 * served the old module. Only then: an unchanged revision may be `require`d by another, which
 * must get the same instance, and Node 24 asserts on an entry removed while it is being loaded.
 */
async function forgetEditedCommonJs(path: string, cacheKey: string): Promise<void> {
  // A missing file is reported by the import that follows.
  const real = await realpath(path).catch(() => path);
  const last = importedKeys.get(real);
  importedKeys.set(real, cacheKey);
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a cache keyed by file name
  if (last !== undefined && last !== cacheKey) delete requireCache[real];
}

function registerTsx(): TsxRegistration {
  const namespace = randomUUID();
  return {
    esm: register({ namespace }),
    commonJs: registerCommonJs({ namespace }),
  };
}
