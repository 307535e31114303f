import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type * as Execa from 'execa';
import type { Options as ExecaOptions } from 'execa';
import { BotBottleError } from './errors.js';

/**
 * execa is ~100 ES modules; importing it costs tens of milliseconds, which
 * every CLI command would pay at start-up through this package's index.
 * Loaded on the first command run instead, once per process.
 */
let execaModule: Promise<typeof Execa> | undefined;
function loadExeca(): Promise<typeof Execa> {
  execaModule ??= import('execa');
  return execaModule;
}

/** How much of a failed command's stderr goes into the error message. */
const STDERR_TAIL_LINES = 20;

export type StdioMode = 'inherit' | 'pipe' | 'ignore';

export interface RunOptions {
  /** Text written to the command's stdin. */
  readonly input?: string;
  /** Added to (and overriding) the current process's environment. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /** Aborting kills the command; the call then rejects with an {@link AbortError}. */
  readonly signal?: AbortSignal;
  readonly stdin?: StdioMode;
  readonly stdout?: StdioMode;
  readonly stderr?: StdioMode;
  /** Kill the command after this long; the call rejects with a ProcessError. */
  readonly timeoutMs?: number;
}

export interface RunResultOptions extends RunOptions {
  /** Exit codes besides 0 that are not failures (`tar` exits 1 when files changed while reading). */
  readonly okExitCodes?: readonly number[];
}

export interface RunResult {
  readonly exitCode: number;
  /** Output exactly as printed (the final newline is kept); '' when not piped. */
  readonly stdout: string;
  readonly stderr: string;
}

/** The last `n` lines of `text`, ignoring a trailing newline. */
export function tailLines(text: string, n: number): string {
  if (n <= 0) return '';
  const lines = text.replace(/\r?\n$/, '').split(/\r?\n/);
  return lines.slice(-n).join('\n');
}

/** A command line as a person would type it, for messages. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** A command ran and failed (non-zero exit, killed, or timed out). */
export class ProcessError extends BotBottleError {
  readonly argv: readonly string[];
  /** The command's exit code (128 + signal number when a signal killed it). */
  override readonly exitCode: number;
  readonly stderr: string;

  constructor(argv: readonly string[], exitCode: number, stderr: string, reason?: string) {
    const tail = tailLines(stderr, STDERR_TAIL_LINES);
    super(`${formatCommand(argv)} ${reason ?? `failed with exit code ${exitCode}`}${tail ? `:\n${tail}` : ''}`);
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/**
 * The caller's AbortSignal fired (Ctrl-C). Named `AbortError` like the
 * platform's own, so `error.name === 'AbortError'` checks work everywhere.
 */
export class AbortError extends BotBottleError {
  constructor(argv: readonly string[], reason?: unknown) {
    super(`${formatCommand(argv)} was interrupted`, { exitCode: 130, cause: reason });
    this.name = 'AbortError';
  }
}

/** Exit code a shell would report for a signal death (128 + signal number). */
function signalExitCode(signal: string | undefined): number {
  const number = signal ? osConstants.signals[signal as keyof typeof osConstants.signals] : undefined;
  return number === undefined ? 128 : 128 + number;
}

function toExecaOptions(options: RunOptions): ExecaOptions {
  return {
    input: options.input,
    env: options.env,
    extendEnv: true,
    cwd: options.cwd,
    cancelSignal: options.signal,
    // Without input, stdin is closed rather than an open pipe nobody writes to,
    // so a command that reads stdin ends instead of hanging.
    stdin: options.input === undefined ? (options.stdin ?? 'ignore') : undefined,
    stdout: options.stdout ?? 'pipe',
    stderr: options.stderr ?? 'pipe',
    timeout: options.timeoutMs,
    reject: false,
    // Callers compare and forward output; trimming is their decision.
    stripFinalNewline: false,
    encoding: 'utf8',
  };
}

function asText(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

interface Outcome extends RunResult {
  /** Set when a signal killed the command. */
  readonly signal: string | undefined;
}

async function execute(argv: readonly string[], options: RunOptions): Promise<Outcome> {
  const [file, ...args] = argv;
  if (file === undefined || file.length === 0) throw new TypeError('argv must name a command');
  if (options.signal?.aborted) throw new AbortError(argv, options.signal.reason);

  const { execa } = await loadExeca();
  // The caller may have aborted while execa loaded.
  if (options.signal?.aborted) throw new AbortError(argv, options.signal.reason);
  const result = await execa(file, args, toExecaOptions(options));
  const stdout = asText(result.stdout);
  const stderr = asText(result.stderr);

  if (result.isCanceled || options.signal?.aborted) throw new AbortError(argv, options.signal?.reason);
  if (result.failed && result.exitCode === undefined && !result.signal && !result.timedOut) {
    // It never started. Node reports a missing cwd as ENOENT of the command, so tell them apart.
    const code = (result as { code?: string }).code;
    if (code === 'ENOENT' && options.cwd !== undefined && !existsSync(options.cwd)) {
      throw new BotBottleError(`cannot run ${file}: working directory ${options.cwd} does not exist`, { cause: result });
    }
    if (code === 'ENOENT') {
      throw new BotBottleError(`\`${file}\` is not on PATH`, {
        hint: `install ${file}, or add the directory that holds it to PATH`,
        cause: result,
      });
    }
    if (code === 'EACCES') {
      throw new BotBottleError(`\`${file}\` is not executable`, { hint: `check the permissions of ${file}`, cause: result });
    }
    throw new BotBottleError(`could not start ${formatCommand(argv)}: ${result.message}`, { cause: result });
  }
  if (result.timedOut) {
    throw new ProcessError(argv, result.exitCode ?? signalExitCode(result.signal), stderr, `timed out after ${options.timeoutMs} ms`);
  }
  if (result.exitCode === undefined) {
    return { exitCode: signalExitCode(result.signal), stdout, stderr, signal: result.signal };
  }
  return { exitCode: result.exitCode, stdout, stderr, signal: undefined };
}

/**
 * Run a command to completion and report its exit code, whatever it is.
 * A missing binary, a timeout and an abort still throw: those are not
 * answers from the command. A signal death reads as 128 + the signal
 * number, as in a shell.
 */
export async function runCapture(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { exitCode, stdout, stderr } = await execute(argv, options);
  return { exitCode, stdout, stderr };
}

/** Run a command that must succeed: a non-zero exit not in `okExitCodes` throws a {@link ProcessError}. */
export async function run(argv: readonly string[], options: RunResultOptions = {}): Promise<RunResult> {
  const { exitCode, stdout, stderr, signal } = await execute(argv, options);
  if (exitCode !== 0 && !(options.okExitCodes ?? []).includes(exitCode)) {
    throw new ProcessError(argv, exitCode, stderr, signal ? `was killed by ${signal}` : undefined);
  }
  return { exitCode, stdout, stderr };
}
