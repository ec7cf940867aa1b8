import { Type } from "typebox";
import { Value } from "typebox/value";
import { redactConnectionString } from "../engine/redact-connection-string.js";
import { ConfigError } from "./config-error.js";
import type { Setting } from "./config-settings.js";

/**
 * The value of one setting: the environment's text (trimmed; empty counts as unset) or the
 * default, converted and checked against the setting's schema. Undefined when neither is there.
 * @throws ConfigError naming the setting, what it must be, and what it got
 */
export function readSetting(setting: Setting, env: NodeJS.ProcessEnv): unknown {
  const text = settingText(env, setting.env) ?? setting.default;
  if (text === undefined) return undefined;
  // Value.Convert is lenient ("5.5" → 5, "true" → 1, "0x10" → 16): a typo would silently become
  // another number, so integers must be written as plain decimal digits.
  const value =
    Type.IsInteger(setting.schema) && !/^-?\d+$/.test(text)
      ? text
      : Value.Convert(setting.schema, text);
  if (!Value.Check(setting.schema, value) || (setting.sensitive === "url" && !isUrl(text))) {
    throw new ConfigError(
      setting.env,
      `${setting.env} must be ${setting.expected} (got ${describeValue(setting, text)})`,
    );
  }
  return value;
}

/**
 * The environment's text for `name`, trimmed; undefined when unset or blank. Env files and
 * docker-compose write `NAME=` for "no value", so a blank setting must mean the default, never ""
 * (the CLI reads its own settings through this too, so both agree).
 */
export function settingText(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const given = env[name]?.trim();
  return given === undefined || given === "" ? undefined : given;
}

/** Empty is allowed where the default is empty (an optional URL); anything else must parse. */
function isUrl(text: string): boolean {
  return text === "" || URL.canParse(text);
}

/** The offending value as the error may show it: secrets are never echoed, URLs masked. */
function describeValue(setting: Setting, text: string): string {
  switch (setting.sensitive) {
    case "secret":
      return `${text.length} characters, not shown`;
    case "url":
      return JSON.stringify(redactConnectionString(text));
    case undefined:
      return JSON.stringify(text);
  }
}
