/**
 * A thin wrapper around the `podman` command. Every call goes through
 * {@link Podman.run}; a missing podman becomes a BackendUnavailableError,
 * other failures a PodmanError with argv, exit code and stderr.
 */
import { spawn } from 'node:child_process';
import { BackendUnavailableError, BotBottleError } from '@bot-bottle/core';

export const PODMAN_FIX =
  'install Podman (`apt-get install podman`, `dnf install podman`, `brew install podman && podman machine start`) and check that `podman info` works';

export interface PodmanResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class PodmanError extends BotBottleError {
  constructor(
    readonly argv: readonly string[],
    readonly podmanExitCode: number,
    readonly stderr: string,
  ) {
    super(`\`podman ${argv.join(' ')}\` failed (exit ${podmanExitCode}): ${stderr.trim() || '<no stderr>'}`);
  }
}

export interface RunOptions {
  readonly input?: string;
  readonly signal?: AbortSignal;
  /** Return a non-zero exit instead of throwing. */
  readonly allowFailure?: boolean;
  /** Attach podman to this terminal (stdin/stdout/stderr inherited); output is not captured. */
  readonly inherit?: boolean;
}

export interface ImageConfig {
  readonly id: string;
  readonly user: string;
  readonly entrypoint: readonly string[] | null;
  readonly cmd: readonly string[] | null;
}

export class Podman {
  constructor(private readonly env: Readonly<Record<string, string | undefined>>) {}

  /** `podman` itself, or `BOT_BOTTLE_PODMAN` (e.g. a wrapper script). */
  get command(): string {
    return this.env.BOT_BOTTLE_PODMAN || 'podman';
  }

  run(argv: readonly string[], options: RunOptions = {}): Promise<PodmanResult> {
    return new Promise((resolve, reject) => {
      if (options.signal?.aborted) {
        reject(new BotBottleError(`\`podman ${argv.join(' ')}\` was interrupted`));
        return;
      }
      const env: Record<string, string> = {};
      for (const [key, value] of Object.entries(this.env)) if (value !== undefined) env[key] = value;
      const child = spawn(this.command, [...argv], {
        env,
        stdio: options.inherit ? 'inherit' : [options.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      if (options.input !== undefined && child.stdin) {
        child.stdin.on('error', () => undefined);
        child.stdin.end(options.input);
      }
      const onAbort = (): void => {
        child.kill('SIGTERM');
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (error: NodeJS.ErrnoException) => {
        options.signal?.removeEventListener('abort', onAbort);
        if (error.code === 'ENOENT') {
          reject(new BackendUnavailableError(`\`${this.command}\` is not installed or not on PATH`, { hint: PODMAN_FIX }));
        } else {
          reject(error);
        }
      });
      // An interrupted podman may leave its output pipes to a process in the
      // bottle; do not wait for them to close.
      child.on('exit', () => {
        if (options.signal?.aborted) reject(new BotBottleError(`\`podman ${argv.join(' ')}\` was interrupted`));
      });
      child.on('close', (code, signal) => {
        options.signal?.removeEventListener('abort', onAbort);
        if (options.signal?.aborted) {
          reject(new BotBottleError(`\`podman ${argv.join(' ')}\` was interrupted`));
          return;
        }
        const result = { exitCode: code ?? (signal ? 128 : 1), stdout, stderr };
        if (result.exitCode !== 0 && !options.allowFailure) reject(new PodmanError(argv, result.exitCode, stderr));
        else resolve(result);
      });
    });
  }

  async imageExists(ref: string): Promise<boolean> {
    return (await this.run(['image', 'exists', ref], { allowFailure: true })).exitCode === 0;
  }

  async imageConfig(ref: string): Promise<ImageConfig> {
    const result = await this.run(['image', 'inspect', '--format', '{{.Id}}\t{{json .Config}}', ref]);
    const [id = '', configJson = '{}'] = result.stdout.trim().split('\t');
    const config = (JSON.parse(configJson) ?? {}) as { User?: string; Entrypoint?: string[] | null; Cmd?: string[] | null };
    return {
      id,
      user: config.User ?? '',
      entrypoint: config.Entrypoint && config.Entrypoint.length > 0 ? config.Entrypoint : null,
      cmd: config.Cmd && config.Cmd.length > 0 ? config.Cmd : null,
    };
  }

  /** State of a container, or undefined when none has that name. */
  async container(name: string): Promise<{ running: boolean; status: string; image: string; labels: Record<string, string> } | undefined> {
    const result = await this.run(
      ['container', 'inspect', '--format', '{{.State.Running}}\t{{.State.Status}}\t{{.Image}}\t{{json .Config.Labels}}', name],
      { allowFailure: true },
    );
    if (result.exitCode !== 0) {
      if (/no such (container|object)/i.test(result.stderr)) return undefined;
      throw new PodmanError(['container', 'inspect', name], result.exitCode, result.stderr);
    }
    const [running = 'false', status = '', image = '', labels = 'null'] = result.stdout.trim().split('\t');
    return { running: running === 'true', status, image, labels: (JSON.parse(labels) ?? {}) as Record<string, string> };
  }

  /** Names of containers carrying every label. */
  async containersWithLabels(labels: Readonly<Record<string, string>>, all = true): Promise<string[]> {
    const filters = Object.entries(labels).flatMap(([key, value]) => ['--filter', `label=${key}=${value}`]);
    const result = await this.run(['ps', ...(all ? ['-a'] : []), ...filters, '--format', '{{.Names}}']);
    return lines(result.stdout);
  }

  /** Remove a container at once; a missing one is fine. */
  async removeContainer(name: string): Promise<void> {
    const result = await this.run(['rm', '-f', '-t', '0', name], { allowFailure: true });
    if (result.exitCode !== 0 && !/no such container/i.test(result.stderr)) {
      throw new PodmanError(['rm', '-f', name], result.exitCode, result.stderr);
    }
  }

  async removeImage(ref: string): Promise<void> {
    await this.run(['rmi', ref], { allowFailure: true });
  }
}

export function lines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}
