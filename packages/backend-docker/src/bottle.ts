/** A running docker bottle: every command is a `docker exec` into the idle container. */
import { randomBytes } from 'node:crypto';
import { BotBottleError, type Bottle, type ExecOptions, type ExecResult } from '@bot-bottle/core';
import type { DockerCli, RunOptions } from './runtime.js';

/** Runs "$@" in the background with stdin kept, records its pid in $1, and passes its exit code on. */
const KILLABLE = 'f="$1"; shift; "$@" <&0 & pid=$!; echo "$pid" > "$f"; wait "$pid"; rc=$?; rm -f "$f"; exit "$rc"';

const PAUSED = /^Error response from daemon: .*is paused/im;

export const DEFAULT_DETACHED_LOG = '/tmp/bot-bottle-agent.log';

export class DockerBottle implements Bottle {
  constructor(
    private readonly cli: DockerCli,
    readonly slug: string,
    readonly name: string,
    /** The non-root user commands run as by default. */
    readonly agentUser: string,
    readonly agentHome: string,
  ) {}

  private execFlags(options: ExecOptions): string[] {
    const flags = ['-u', options.user === 'root' ? '0' : this.agentUser];
    if (options.workdir !== undefined) flags.push('-w', options.workdir);
    for (const [key, value] of Object.entries(options.env ?? {})) flags.push('-e', `${key}=${value}`);
    return flags;
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const signal = options.signal;
    if (signal?.aborted) throw new BotBottleError(`${argv.join(' ')} in ${this.name} was interrupted before it started`);
    // Killing the docker CLI does not stop the command inside the container,
    // so a cancellable exec records its pid and is killed there on abort.
    const pidFile = signal ? `/tmp/.bot-bottle-exec-${randomBytes(6).toString('hex')}.pid` : undefined;
    const command = pidFile ? ['sh', '-c', KILLABLE, 'bot-bottle-exec', pidFile, ...argv] : [...argv];
    const args = ['exec', ...(options.input !== undefined ? ['-i'] : []), ...this.execFlags(options), this.name, ...command];
    const onAbort = pidFile ? () => void this.killInside(pidFile) : undefined;
    if (onAbort) signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await this.runRetryingWhilePaused(args, {
        allowFailure: true,
        ...(options.input !== undefined ? { input: options.input } : {}),
        ...(signal ? { signal } : {}),
      });
      this.throwIfNotRunning(result.exitCode, result.stderr);
      return result;
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  private async killInside(pidFile: string): Promise<void> {
    const script = 'f="$1"; for i in 1 2 3 4 5 6 7 8 9 10; do [ -s "$f" ] && break; sleep 0.1; done; [ -s "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null; rm -f "$f"';
    await this.cli.run(['exec', '-u', '0', this.name, 'sh', '-c', script, 'bot-bottle-kill', pidFile], { allowFailure: true }).catch(() => undefined);
  }

  async execInteractive(argv: readonly string[], options: ExecOptions = {}): Promise<number> {
    const tty = Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY);
    const args = ['exec', '-i', ...(tty ? ['-t'] : []), ...this.execFlags(options), this.name, ...argv];
    return this.cli.interactive(args, options.signal);
  }

  async execDetached(
    argv: readonly string[],
    options: ExecOptions & { readonly logPath?: string } = {},
  ): Promise<void> {
    const logPath = options.logPath ?? DEFAULT_DETACHED_LOG;
    // A tiny shell trampoline sends the command's output to the log, so the
    // caller's argv is passed through untouched (no quoting games).
    const script = 'log="$1"; shift; mkdir -p "$(dirname "$log")" 2>/dev/null; exec "$@" >>"$log" 2>&1 </dev/null';
    const args = ['exec', '-d', ...this.execFlags(options), this.name, 'sh', '-c', script, 'bot-bottle-detached', logPath, ...argv];
    const result = await this.runRetryingWhilePaused(args, {
      allowFailure: true,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    this.throwIfNotRunning(result.exitCode, result.stderr);
    if (result.exitCode !== 0) {
      throw new BotBottleError(`could not start ${argv.join(' ')} in ${this.name}: ${result.stderr.trim()}`);
    }
  }

  /**
   * `docker commit` pauses the container for a moment; an exec that lands in
   * that window is refused before it starts, so it is safe to try again.
   */
  private async runRetryingWhilePaused(args: string[], options: RunOptions) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const result = await this.cli.run(args, options);
      if (result.exitCode === 0 || !PAUSED.test(result.stderr) || Date.now() > deadline || options.signal?.aborted) {
        return result;
      }
      await new Promise((done) => setTimeout(done, 200));
    }
  }

  private throwIfNotRunning(exitCode: number, stderr: string): void {
    if (exitCode === 0) return;
    if (/No such container|is not running|is paused/i.test(stderr) && stderr.startsWith('Error')) {
      throw new BotBottleError(`bottle ${this.slug} is not running (${stderr.trim()})`, {
        hint: `run \`bot-bottle resume ${this.slug}\` to start it again`,
      });
    }
  }
}
