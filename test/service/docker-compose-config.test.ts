/**
 * `docker compose up --build` with the variables README and docker-compose.yml ask for: the
 * api and worker containers (Dockerfile ENV + the compose environment) must pass loadConfig.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";

const ROOT = new URL("../../", import.meta.url);

/** The Dockerfile's final-stage ENV (`ENV A=1 \ B=2`). */
function dockerfileEnv(text: string): Record<string, string> {
  const finalStage = text.slice(text.lastIndexOf("\nFROM "));
  const env: Record<string, string> = {};
  const block = /\nENV ((?:[^\n]*\\\n)*[^\n]*)/.exec(finalStage)?.[1] ?? "";
  for (const [, key, value] of block.matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)) {
    if (key !== undefined && value !== undefined) env[key] = value;
  }
  return env;
}

/** The `environment: &fleetway-env` mapping of docker-compose.yml, with `${VAR:?...}` substituted. */
function composeEnv(text: string, shell: Record<string, string>): Record<string, string> {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => /environment: &fleetway-env/.test(l));
  assert.ok(start >= 0, "the shared environment block");
  const indent = (lines[start + 1] ?? "").search(/\S/);
  const env: Record<string, string> = {};
  for (const line of lines.slice(start + 1)) {
    if (line.search(/\S/) !== indent) break;
    const match = /^\s*([A-Z_][A-Z0-9_]*):\s*(.*)$/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined) break;
    env[match[1]] = match[2]
      .replace(/^"(.*)"$/, "$1")
      .replace(/\$\{([A-Z_][A-Z0-9_]*)(?::\?[^}]*)?\}/g, (_, name: string) => {
        const value = shell[name];
        if (value === undefined) throw new Error(`compose would refuse: ${name} is not set`);
        return value;
      });
  }
  return env;
}

describe("docker compose configuration", () => {
  it("starts with the three settings README and the compose file ask for", async () => {
    const dockerfile = await readFile(new URL("Dockerfile", ROOT), "utf8");
    const compose = await readFile(new URL("docker-compose.yml", ROOT), "utf8");
    // What README's Docker section says to set first.
    const shell = {
      FLEETWAY_ENCRYPTION_KEY: "ab".repeat(32),
      FLEETWAY_API_KEYS: "deploy:admin:0123456789abcdef0123",
      FLEETWAY_CALLBACK_SECRET: `whsec_${Buffer.alloc(32, 7).toString("base64")}`,
    };
    const env = { ...dockerfileEnv(dockerfile), ...composeEnv(compose, shell) };
    assert.equal(env.NODE_ENV, "production");
    assert.doesNotThrow(() => loadConfig(env, "/app"));
  });
});
