#!/usr/bin/env node
// The `fleetway` command. Runs the compiled CLI (dist/, built by `npm run build` and on
// `npm install`); in a checkout that has not been built yet it runs the TypeScript source.
import { existsSync } from "node:fs";

const compiled = new URL("../dist/cli/main.js", import.meta.url);
let cli;
if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import(new URL("../src/cli/main.ts", import.meta.url).href);
}
await cli.main();
