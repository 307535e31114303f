import type { ExecOptions, ExecResult } from '../contract.js';
import { BotBottleError } from '../errors.js';

/** A backend broke the contract. The message says what was expected, what happened and what to look at. */
export class ContractViolation extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ContractViolation';
  }
}

/** Throw a {@link ContractViolation} unless `condition` holds. */
export function check(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new ContractViolation(typeof message === 'function' ? message() : message);
}

export function checkEqual<T>(actual: T, expected: T, what: string, extra?: string): void {
  if (!Object.is(actual, expected)) {
    throw new ContractViolation(
      `${what}: expected ${show(expected)}, got ${show(actual)}${extra ? `\n${extra}` : ''}`,
    );
  }
}

export function fail(message: string, cause?: unknown): never {
  throw new ContractViolation(cause === undefined ? message : `${message}: ${describeError(cause)}`, { cause });
}

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(clip(value, 400));
  if (value === undefined) return 'undefined';
  try {
    return clip(JSON.stringify(value), 400);
  } catch {
    return String(value);
  }
}

export function clip(text: string, max = 2000): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** `sh -c 'id -u'` as agent — how a failing exec is named in messages. */
export function describeCommand(argv: readonly string[], options: ExecOptions = {}): string {
  const quoted = argv.map((arg) => (/^[\w@%+=:,./~-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`));
  const extras: string[] = [`as ${options.user ?? 'agent'}`];
  if (options.workdir) extras.push(`in ${options.workdir}`);
  if (options.env && Object.keys(options.env).length > 0) extras.push(`with env ${Object.keys(options.env).join(',')}`);
  if (options.input !== undefined) extras.push(`with ${options.input.length} characters on stdin`);
  return `\`${clip(quoted.join(' '), 300)}\` ${extras.join(' ')}`;
}

export function describeResult(result: ExecResult): string {
  const out = result.stdout.trim();
  const err = result.stderr.trim();
  return [
    `exit code ${result.exitCode}`,
    `stdout: ${out ? clip(out, 1500) : '<empty>'}`,
    `stderr: ${err ? clip(err, 1500) : '<empty>'}`,
  ].join('\n  ');
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const parts = [`${error.name}: ${error.message}`];
    const hint = (error as { hint?: unknown }).hint;
    if (typeof hint === 'string' && hint) parts.push(`hint: ${hint}`);
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof Error) parts.push(`cause: ${cause.name}: ${cause.message}`);
    const stderr = (error as { stderr?: unknown }).stderr;
    if (typeof stderr === 'string' && stderr.trim()) parts.push(`stderr: ${clip(stderr.trim(), 1500)}`);
    return parts.join('\n  ');
  }
  return String(error);
}

/**
 * A `BotBottleError`, recognised also when the backend under test carries
 * its own copy of @bot-bottle/core (two copies make `instanceof` lie).
 */
export function isBotBottleErrorLike(error: unknown): boolean {
  return isErrorOf(error, BotBottleError);
}

/** The name of the error's class, e.g. `UnknownSlugError`. */
export function errorName(error: unknown): string {
  if (error instanceof Error) return error.constructor?.name || error.name;
  return typeof error;
}

/** True when `error` is an instance of `type`, or of a class of the same name (second copy of core). */
export function isErrorOf(error: unknown, type: abstract new (...args: never[]) => Error): boolean {
  if (error instanceof type) return true;
  let proto: unknown = error === null || typeof error !== 'object' ? undefined : Object.getPrototypeOf(error);
  while (proto && proto !== Object.prototype) {
    if ((proto as { constructor?: { name?: string } }).constructor?.name === type.name) return true;
    proto = Object.getPrototypeOf(proto);
  }
  return false;
}
