/**
 * A thin wrapper around Apple's `container` CLI. Every call goes through
 * {@link ContainerCli.run}; failures become a {@link ContainerCommandError}
 * carrying the argv, exit code and stderr.
 *
 * The binary is `container` from PATH, unless the one explicit test setting
 * {@link EMULATOR_ENV} names the bot-bottle emulator (a Docker-backed
 * stand-in used on Linux CI).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { BackendUnavailableError, BotBottleError } from '@bot-bottle/core';

/** Absolute path of the container EMULATOR; selects that binary and lifts the macOS/Apple-silicon check. */
export const EMULATOR_ENV = 'BOT_BOTTLE_CONTAINER_EMULATOR';

export const INSTALL_FIX =
  'install Apple\'s container tool (the signed installer from https://github.com/apple/container/releases), then run `container system start`';
export const START_FIX = 'run `container system start` (it installs the default kernel on first use)';

export interface CliResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliRunOptions {
  /** Text written to the command's stdin (stdin is closed otherwise). */
  readonly input?: string;
  readonly signal?: AbortSignal;
  /** Return the result for a non-zero exit instead of throwing. */
  readonly allowFailure?: boolean;
  readonly timeoutMs?: number;
}

export class ContainerCommandError extends BotBottleError {
  readonly argv: readonly string[];
  readonly cliExitCode: number;
  readonly stderr: string;
  constructor(binary: string, argv: readonly string[], exitCode: number, stderr: string, options: { hint?: string } = {}) {
    const detail = tail(stderr, 20) || '<no stderr>';
    super(`\`${binaryLabel(binary)} ${argv.join(' ')}\` failed (exit ${exitCode}): ${detail}`, options);
    this.argv = argv;
    this.cliExitCode = exitCode;
    this.stderr = stderr;
  }
}

/** The command was interrupted through its AbortSignal. */
export class InterruptedError extends BotBottleError {
  constructor(what: string) {
    super(`${what} was interrupted`, { exitCode: 130 });
    this.name = 'AbortError';
  }
}

function binaryLabel(binary: string): string {
  return binary === 'container' ? 'container' : `container (${binary})`;
}

/** The OCI config of an image, as `container image inspect` reports it. */
export interface ImageConfig {
  readonly digest: string;
  readonly user: string;
  readonly workingDir: string;
  readonly env: readonly string[];
  readonly entrypoint: readonly string[] | null;
  readonly cmd: readonly string[] | null;
}

/** One container as `container list --format json` reports it (the fields bot-bottle reads). */
export interface ContainerSnapshot {
  readonly status: string;
  readonly configuration: {
    readonly id: string;
    readonly image?: { readonly reference?: string };
    readonly labels?: Readonly<Record<string, string>>;
  };
}

export interface SpawnedCli {
  readonly child: ChildProcess;
  readonly argv: readonly string[];
}

export class ContainerCli {
  /** The executable: `container`, or the emulator's absolute path. */
  readonly binary: string;
  /** True when {@link EMULATOR_ENV} selected the emulator. */
  readonly emulated: boolean;

  constructor(private readonly env: Readonly<Record<string, string | undefined>> = process.env) {
    const emulator = env[EMULATOR_ENV];
    this.emulated = emulator !== undefined && emulator.length > 0;
    this.binary = this.emulated ? (emulator as string) : 'container';
  }

  private childEnv(): NodeJS.ProcessEnv {
    const out: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(this.env)) if (value !== undefined) out[key] = value;
    return out;
  }

  /** Start `container ...args` with the given stdio; the caller owns the child. */
  spawn(args: readonly string[], stdio: ('pipe' | 'inherit' | 'ignore')[]): SpawnedCli {
    const child = spawn(this.binary, [...args], { env: this.childEnv(), stdio });
    return { child, argv: args };
  }

  /**
   * Start `container ...args` and let it finish on its own: detached, no
   * stdio, not waited for (it outlives this process if need be). For
   * tidying-up whose outcome nobody acts on.
   */
  detached(args: readonly string[]): void {
    try {
      const child = spawn(this.binary, [...args], { env: this.childEnv(), stdio: 'ignore', detached: true });
      child.once('error', () => undefined);
      child.unref();
    } catch {
      // best effort, like the call it replaces
    }
  }

  /** Run `container ...args` and capture its output. */
  async run(args: readonly string[], options: CliRunOptions = {}): Promise<CliResult> {
    const { signal } = options;
    if (signal?.aborted) throw new InterruptedError(`\`container ${args.join(' ')}\``);
    const child = spawn(this.binary, [...args], {
      env: this.childEnv(),
      stdio: [options.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    if (options.input !== undefined) {
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(options.input);
    }
    const onAbort = (): void => {
      child.kill('SIGTERM');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs)
        : undefined;
    try {
      const exitCode = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (code, sig) => resolve(code ?? (sig ? 128 + 15 : 1)));
      });
      const result: CliResult = {
        exitCode,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (signal?.aborted) throw new InterruptedError(`\`container ${args.join(' ')}\``);
      if (timedOut) {
        throw new ContainerCommandError(this.binary, args, exitCode, `timed out after ${options.timeoutMs} ms`);
      }
      if (exitCode !== 0 && !options.allowFailure) {
        throw new ContainerCommandError(this.binary, args, exitCode, result.stderr);
      }
      return result;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw this.notInstalled();
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (timer) clearTimeout(timer);
    }
  }

  notInstalled(): BackendUnavailableError {
    return this.emulated
      ? new BackendUnavailableError(`the container emulator ${this.binary} (${EMULATOR_ENV}) cannot be run`, {
          hint: `point ${EMULATOR_ENV} at test-fixtures/container-emulator/bin/container (an absolute path)`,
        })
      : new BackendUnavailableError('`container` is not on PATH', { hint: INSTALL_FIX });
  }

  /** Run with the terminal attached; resolves to the exit code. */
  async interactive(args: readonly string[], signal?: AbortSignal): Promise<number> {
    const child = spawn(this.binary, [...args], { env: this.childEnv(), stdio: 'inherit' });
    const onAbort = (): void => {
      child.kill('SIGTERM');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await new Promise<number>((resolve, reject) => {
        child.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT' ? this.notInstalled() : error));
        child.once('close', (code, sig) => resolve(code ?? (sig ? 128 + 15 : 1)));
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async imageExists(ref: string): Promise<boolean> {
    const result = await this.run(['image', 'inspect', ref], { allowFailure: true });
    return result.exitCode === 0;
  }

  /** The image's OCI config (the first platform variant). */
  async imageConfig(ref: string): Promise<ImageConfig> {
    const result = await this.run(['image', 'inspect', ref]);
    return parseImageConfig(result.stdout, ref);
  }

  /** Containers as `container list [--all] --format json` reports them. */
  async listContainers(all: boolean): Promise<ContainerSnapshot[]> {
    const result = await this.run(['list', ...(all ? ['--all'] : []), '--format', 'json']);
    const text = result.stdout.trim();
    if (text.length === 0) return [];
    const parsed = JSON.parse(text) as unknown;
    return Array.isArray(parsed) ? (parsed as ContainerSnapshot[]) : [];
  }

  async findContainer(name: string, all = true): Promise<ContainerSnapshot | undefined> {
    return (await this.listContainers(all)).find((c) => c.configuration?.id === name);
  }

  /** `container delete --force`; a container that is already gone is not an error. */
  async removeContainer(name: string): Promise<void> {
    if ((await this.findContainer(name)) === undefined) return;
    const result = await this.run(['delete', '--force', name], { allowFailure: true });
    if (result.exitCode !== 0 && (await this.findContainer(name)) !== undefined) {
      throw new ContainerCommandError(this.binary, ['delete', '--force', name], result.exitCode, result.stderr);
    }
  }

  async networkExists(name: string): Promise<boolean> {
    const result = await this.run(['network', 'list', '--quiet'], { allowFailure: true });
    return result.exitCode === 0 && lines(result.stdout).includes(name);
  }

  /** Remove a network; a missing one is not an error. */
  async removeNetwork(name: string): Promise<void> {
    if (!(await this.networkExists(name))) return;
    await this.run(['network', 'delete', name]);
  }

  /** Delete an image reference; returns whether the runtime accepted. */
  async deleteImage(ref: string): Promise<boolean> {
    const result = await this.run(['image', 'delete', ref], { allowFailure: true });
    return result.exitCode === 0;
  }
}

interface AppleImage {
  readonly name?: string;
  readonly index?: { readonly digest?: string };
  readonly variants?: readonly {
    readonly config?: {
      readonly config?: {
        readonly User?: string;
        readonly WorkingDir?: string;
        readonly Env?: readonly string[] | null;
        readonly Entrypoint?: readonly string[] | null;
        readonly Cmd?: readonly string[] | null;
      };
    };
  }[];
}

/** Read the first variant's config out of `container image inspect` JSON. */
export function parseImageConfig(json: string, ref: string): ImageConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new BotBottleError(`\`container image inspect ${ref}\` did not print JSON: ${(error as Error).message}`);
  }
  const image = (Array.isArray(parsed) ? parsed[0] : parsed) as AppleImage | undefined;
  const config = image?.variants?.find((v) => v.config?.config !== undefined)?.config?.config ?? {};
  return {
    digest: image?.index?.digest ?? '',
    user: config.User ?? '',
    workingDir: config.WorkingDir ?? '',
    env: config.Env ?? [],
    entrypoint: config.Entrypoint && config.Entrypoint.length > 0 ? config.Entrypoint : null,
    cmd: config.Cmd && config.Cmd.length > 0 ? config.Cmd : null,
  };
}

export function lines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

/** Last `count` non-empty lines, for error messages. */
export function tail(text: string, count = 20): string {
  return lines(text).slice(-count).join('\n');
}
