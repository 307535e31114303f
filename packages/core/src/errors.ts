/**
 * Errors a person can act on. The CLI prints `message` and, when set,
 * `hint` ("what to do") and exits non-zero; anything else is a bug and gets
 * a stack trace under DEBUG.
 */
/**
 * A backend installed with `bot-bottle plugins install` brings its own copy
 * of @bot-bottle/core, so its errors are instances of *that* copy's classes
 * and a plain `instanceof` in the CLI would miss them. Every error records
 * the names of its class chain under a global symbol, and the classes'
 * `instanceof` checks that record, so errors are recognised whichever copy
 * of core made them.
 */
const ERROR_KINDS = Symbol.for('@bot-bottle/core:error-kinds');

function classNames(ctor: unknown): string[] {
  const names: string[] = [];
  let current = ctor as { name?: string } | null;
  while (typeof current === 'function' && current !== Error && current !== Function.prototype) {
    if (current.name) names.push(current.name);
    current = Object.getPrototypeOf(current) as { name?: string } | null;
  }
  return names;
}

function brand(error: Error, ctor: unknown): void {
  Object.defineProperty(error, ERROR_KINDS, { value: classNames(ctor), enumerable: false });
}

function isBranded(value: unknown, name: string): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const kinds = (value as { [ERROR_KINDS]?: unknown })[ERROR_KINDS];
  return Array.isArray(kinds) && kinds.includes(name);
}

export class BotBottleError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, this.name);
  }

  readonly hint: string | undefined;
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;

  constructor(message: string, options: { hint?: string; cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
    brand(this, new.target);
  }
}

/** Bad user input: slug, agent name, flags. Nothing was touched. */
export class UsageError extends BotBottleError {
  constructor(message: string, options: { hint?: string } = {}) {
    super(message, { ...options, exitCode: 2 });
  }
}

export class InvalidSlugError extends UsageError {}

export class UnknownAgentError extends UsageError {}

export class UnknownSlugError extends BotBottleError {}

/** The manifest file is missing, unparsable, or fails validation. */
export class ManifestError extends BotBottleError {
  readonly file: string | undefined;
  constructor(message: string, options: { file?: string; hint?: string; cause?: unknown } = {}) {
    super(message, options);
    this.file = options.file;
  }
}

/** A state file exists but cannot be read as what it should be. */
export class StateCorruptError extends BotBottleError {
  readonly file: string;
  constructor(file: string, detail: string) {
    super(`state file ${file} is corrupt: ${detail}`, {
      hint: `inspect or delete ${file}; bot-bottle will not guess its contents`,
    });
    this.file = file;
  }
}

/** No installed backend can serve the request, or the named one is missing. */
export class BackendUnavailableError extends BotBottleError {}

/** A backend declined to commit after asking the user; the command ends with exit 0. */
export class CommitCancelled extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, this.name);
  }

  constructor(message = 'commit cancelled') {
    super(message);
    this.name = 'CommitCancelled';
    brand(this, new.target);
  }
}

/** A commit stopped because its AbortSignal fired (Ctrl-C). */
export class CommitAborted extends BotBottleError {
  constructor(slug: string) {
    super(`commit of ${slug} was interrupted; the previous snapshot is still in force`, { exitCode: 130 });
  }
}

export function isBotBottleError(error: unknown): error is BotBottleError {
  return error instanceof BotBottleError;
}
