/**
 * A thin wrapper around the `docker` CLI. Every call goes through
 * {@link DockerCli.run}, which turns "no engine" into one clear
 * BackendUnavailableError and every other failure into a DockerCommandError
 * carrying the argv, exit code and stderr.
 */
import { spawn } from 'node:child_process';
import { execa, type Options as ExecaOptions } from 'execa';
import { BackendUnavailableError, BotBottleError } from '@bot-bottle/core';

export const ENGINE_FIX =
  'start Docker (Docker Desktop, colima, `sudo systemctl start docker`) or point DOCKER_HOST at a running engine; on this project\'s machines run `bash scripts/engine.sh`';

const UNREACHABLE = [
  /Cannot connect to the Docker daemon/i,
  /error during connect/i,
  /dial unix [^:]+: connect:/i,
  /Is the docker daemon running\?/i,
  /connect: no such file or directory/i,
];

export function looksUnreachable(stderr: string): boolean {
  return UNREACHABLE.some((pattern) => pattern.test(stderr));
}

export interface DockerResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class DockerCommandError extends BotBottleError {
  readonly argv: readonly string[];
  readonly dockerExitCode: number;
  readonly stderr: string;
  constructor(argv: readonly string[], exitCode: number, stderr: string, options: { hint?: string } = {}) {
    const detail = stderr.trim() || '<no stderr>';
    super(`\`docker ${argv.join(' ')}\` failed (exit ${exitCode}): ${detail}`, options);
    this.argv = argv;
    this.dockerExitCode = exitCode;
    this.stderr = stderr;
  }
}

export interface RunOptions {
  /** Text written to docker's stdin. */
  readonly input?: string;
  readonly signal?: AbortSignal;
  /** Return the result for a non-zero exit instead of throwing. */
  readonly allowFailure?: boolean;
  readonly timeoutMs?: number;
}

export interface ContainerState {
  readonly running: boolean;
  readonly status: string;
  /** Image ID the container was created from. */
  readonly image: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The container's environment (`KEY=value`): the image's, plus what `docker run --env` added. */
  readonly env: readonly string[];
}

export interface ImageConfig {
  readonly id: string;
  readonly user: string;
  readonly workingDir: string;
  readonly env: readonly string[];
  readonly entrypoint: readonly string[] | null;
  readonly cmd: readonly string[] | null;
}

/** The engine is unreachable or the docker CLI is missing. */
export function engineUnavailable(detail: string): BackendUnavailableError {
  return new BackendUnavailableError(`the Docker engine is not reachable: ${detail}`, { hint: ENGINE_FIX });
}

export class DockerCli {
  constructor(private readonly env: Readonly<Record<string, string | undefined>> = process.env) {}

  private options(extra: ExecaOptions = {}): ExecaOptions {
    return { env: { ...this.env }, extendEnv: false, reject: false, stripFinalNewline: false, ...extra };
  }

  /** Run `docker ...args` and capture its output. */
  async run(args: readonly string[], options: RunOptions = {}): Promise<DockerResult> {
    const result = await execa(
      'docker',
      [...args],
      this.options({
        ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' }),
        ...(options.signal ? { cancelSignal: options.signal } : {}),
        ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
      }),
    );
    if (result.isCanceled) throw new BotBottleError(`\`docker ${args.join(' ')}\` was interrupted`);
    if (result.failed && result.exitCode === undefined) {
      const code = (result as unknown as { code?: string }).code;
      if (code === 'ENOENT') throw engineUnavailable('the `docker` command is not installed or not on PATH');
      if (result.timedOut) throw engineUnavailable(`\`docker ${args.join(' ')}\` timed out`);
      throw new DockerCommandError(args, -1, String(result.stderr ?? result.message));
    }
    const out: DockerResult = {
      exitCode: result.exitCode ?? -1,
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
    };
    if (out.exitCode !== 0 && looksUnreachable(out.stderr)) throw engineUnavailable(firstLine(out.stderr));
    if (out.exitCode !== 0 && !options.allowFailure) throw new DockerCommandError(args, out.exitCode, out.stderr);
    return out;
  }

  /** Spawn docker with the terminal attached; resolves to its exit code. */
  async interactive(args: readonly string[], signal?: AbortSignal): Promise<number> {
    const result = await execa(
      'docker',
      [...args],
      this.options({ stdio: 'inherit', ...(signal ? { cancelSignal: signal } : {}) }),
    );
    if (result.failed && result.exitCode === undefined) {
      const code = (result as unknown as { code?: string }).code;
      if (code === 'ENOENT') throw engineUnavailable('the `docker` command is not installed or not on PATH');
    }
    return result.exitCode ?? 1;
  }

  async serverVersion(timeoutMs = 20_000): Promise<string> {
    const result = await this.run(['version', '--format', '{{.Server.Version}}'], { timeoutMs });
    return result.stdout.trim();
  }

  async imageExists(ref: string): Promise<boolean> {
    const result = await this.run(['image', 'inspect', '--format', '{{.Id}}', ref], { allowFailure: true });
    return result.exitCode === 0;
  }

  async imageConfig(ref: string): Promise<ImageConfig> {
    const config = await this.tryImageConfig(ref);
    if (config === undefined) throw new DockerCommandError(['image', 'inspect', ref], 1, `No such image: ${ref}`);
    return config;
  }

  /** The image's config, or undefined when the engine has no such image. */
  async tryImageConfig(ref: string): Promise<ImageConfig | undefined> {
    const result = await this.run(['image', 'inspect', '--format', '{{json .Id}}\t{{json .Config}}', ref], {
      allowFailure: true,
    });
    if (result.exitCode !== 0) {
      if (/no such (image|object)/i.test(result.stderr)) return undefined;
      throw new DockerCommandError(['image', 'inspect', ref], result.exitCode, result.stderr);
    }
    const [idJson = '""', configJson = '{}'] = result.stdout.trim().split('\t');
    const config = (JSON.parse(configJson) ?? {}) as {
      User?: string;
      WorkingDir?: string;
      Env?: string[] | null;
      Entrypoint?: string[] | null;
      Cmd?: string[] | null;
    };
    return {
      id: JSON.parse(idJson) as string,
      user: config.User ?? '',
      workingDir: config.WorkingDir ?? '',
      env: config.Env ?? [],
      entrypoint: config.Entrypoint && config.Entrypoint.length > 0 ? config.Entrypoint : null,
      cmd: config.Cmd && config.Cmd.length > 0 ? config.Cmd : null,
    };
  }

  /** `{ running, image }` of a container, or undefined when none has that name. */
  async containerState(name: string): Promise<ContainerState | undefined> {
    const result = await this.run(
      ['container', 'inspect', '--format', '{{.State.Running}}\t{{.State.Status}}\t{{.Image}}\t{{json .Config.Labels}}\t{{json .Config.Env}}', name],
      { allowFailure: true },
    );
    if (result.exitCode !== 0) {
      if (/no such (container|object)/i.test(result.stderr)) return undefined;
      throw new DockerCommandError(['container', 'inspect', name], result.exitCode, result.stderr);
    }
    const [running = 'false', status = '', image = '', labels = 'null', env = 'null'] = result.stdout.trim().split('\t');
    return {
      running: running === 'true',
      status,
      image,
      labels: (JSON.parse(labels) ?? {}) as Record<string, string>,
      env: (JSON.parse(env) ?? []) as string[],
    };
  }

  /** Remove an image in the background (its layers can take a while to delete); errors are ignored. */
  removeImageInBackground(ref: string): void {
    try {
      const child = spawn('docker', ['rmi', ref], { env: { ...this.env }, stdio: 'ignore', detached: true });
      child.on('error', () => undefined);
      child.unref();
    } catch {
      // best effort
    }
  }

  async containerLabels(name: string): Promise<Record<string, string> | undefined> {
    const result = await this.run(['container', 'inspect', '--format', '{{json .Config.Labels}}', name], {
      allowFailure: true,
    });
    if (result.exitCode !== 0) return undefined;
    return (JSON.parse(result.stdout.trim() || 'null') ?? {}) as Record<string, string>;
  }

  async networkLabels(name: string): Promise<Record<string, string> | undefined> {
    const result = await this.run(['network', 'inspect', '--format', '{{json .Labels}}', name], {
      allowFailure: true,
    });
    if (result.exitCode !== 0) return undefined;
    return (JSON.parse(result.stdout.trim() || 'null') ?? {}) as Record<string, string>;
  }

  /** IDs of containers (running or not) carrying every label. */
  async containersWithLabels(labels: Readonly<Record<string, string>>, all = true): Promise<string[]> {
    const filters = Object.entries(labels).flatMap(([key, value]) => ['--filter', `label=${key}=${value}`]);
    const result = await this.run(['ps', ...(all ? ['-a'] : []), '-q', '--no-trunc', ...filters]);
    return lines(result.stdout);
  }

  async networksWithLabels(labels: Readonly<Record<string, string>>): Promise<string[]> {
    const filters = Object.entries(labels).flatMap(([key, value]) => ['--filter', `label=${key}=${value}`]);
    const result = await this.run(['network', 'ls', '-q', '--no-trunc', ...filters]);
    return lines(result.stdout);
  }

  /** Remove a container (forced); a missing one is not an error. */
  async removeContainer(nameOrId: string): Promise<void> {
    const result = await this.run(['rm', '-f', nameOrId], { allowFailure: true });
    if (result.exitCode !== 0 && !/no such container/i.test(result.stderr)) {
      throw new DockerCommandError(['rm', '-f', nameOrId], result.exitCode, result.stderr);
    }
  }

  /** Remove a network; a missing one is not an error. */
  async removeNetwork(nameOrId: string): Promise<void> {
    const result = await this.run(['network', 'rm', nameOrId], { allowFailure: true });
    if (result.exitCode !== 0 && !/(no such network|not found)/i.test(result.stderr)) {
      throw new DockerCommandError(['network', 'rm', nameOrId], result.exitCode, result.stderr);
    }
  }

  /** Untag/remove an image; a missing one is not an error. Returns whether docker accepted. */
  async removeImage(ref: string, options: { force?: boolean } = {}): Promise<boolean> {
    const result = await this.run(['rmi', ...(options.force ? ['-f'] : []), ref], { allowFailure: true });
    return result.exitCode === 0;
  }
}

export function lines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

function firstLine(text: string): string {
  return lines(text)[0] ?? text.trim();
}

/** Last `count` non-empty lines of a log, for error messages. */
export function tail(text: string, count = 20): string {
  return lines(text).slice(-count).join('\n');
}
