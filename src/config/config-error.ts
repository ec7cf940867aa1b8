/** A setting is missing or malformed: start-up stops with this one line. */
export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}
