/** A running macos-container bottle: every command is a `container exec` into the idle container. */
import { BotBottleError, type Bottle, type ExecOptions, type ExecResult } from '@bot-bottle/core';
import type { ContainerCli } from './runtime.js';

export const DEFAULT_DETACHED_LOG = '/tmp/bot-bottle-agent.log';

const NOT_RUNNING = /not found|not running|invalidState|notFound/i;

export class MacosContainerBottle implements Bottle {
  constructor(
    private readonly cli: ContainerCli,
    readonly slug: string,
    readonly name: string,
    /** The non-root user commands run as by default. */
    readonly agentUser: string,
    readonly agentHome: string,
  ) {}

  /** `--user`, `--workdir` and `--env` flags in Apple's spelling. */
  execFlags(options: ExecOptions): string[] {
    const flags = ['--user', options.user === 'root' ? 'root' : this.agentUser];
    if (options.workdir !== undefined) flags.push('--workdir', options.workdir);
    for (const [key, value] of Object.entries(options.env ?? {})) flags.push('--env', `${key}=${value}`);
    return flags;
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const args = ['exec', ...(options.input !== undefined ? ['--interactive'] : []), ...this.execFlags(options), this.name, ...argv];
    const result = await this.cli.run(args, {
      allowFailure: true,
      ...(options.input !== undefined ? { input: options.input } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await this.throwIfGone(result.exitCode, result.stderr);
    return result;
  }

  async execInteractive(argv: readonly string[], options: ExecOptions = {}): Promise<number> {
    const tty = Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY);
    const args = ['exec', '--interactive', ...(tty ? ['--tty'] : []), ...this.execFlags(options), this.name, ...argv];
    return this.cli.interactive(args, options.signal);
  }

  async execDetached(argv: readonly string[], options: ExecOptions & { readonly logPath?: string } = {}): Promise<void> {
    const logPath = options.logPath ?? DEFAULT_DETACHED_LOG;
    // A small trampoline sends the command's output to the log, so argv passes through untouched.
    const script = 'log="$1"; shift; mkdir -p "$(dirname "$log")" 2>/dev/null; exec "$@" >>"$log" 2>&1 </dev/null';
    const args = ['exec', '--detach', ...this.execFlags(options), this.name, 'sh', '-c', script, 'bot-bottle-detached', logPath, ...argv];
    const result = await this.cli.run(args, { allowFailure: true, ...(options.signal ? { signal: options.signal } : {}) });
    await this.throwIfGone(result.exitCode, result.stderr);
    if (result.exitCode !== 0) {
      throw new BotBottleError(`could not start ${argv.join(' ')} in ${this.name}: ${result.stderr.trim()}`);
    }
  }

  /** A failed exec whose stderr says the container is missing, and the runtime agrees: the bottle is gone. */
  private async throwIfGone(exitCode: number, stderr: string): Promise<void> {
    if (exitCode === 0 || !NOT_RUNNING.test(stderr) || !/^Error/m.test(stderr)) return;
    const running = await this.cli.findContainer(this.name, false).catch(() => undefined);
    if (running !== undefined) return;
    throw new BotBottleError(`bottle ${this.slug} is not running (${stderr.trim()})`, {
      hint: `Apple's container deletes a container when it stops; run \`bot-bottle resume ${this.slug}\` to start it again`,
    });
  }
}
