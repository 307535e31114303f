/** A running podman bottle: every command is a `podman exec` into the idle container. */
import { randomBytes } from 'node:crypto';
import { BotBottleError, type Bottle, type ExecOptions, type ExecResult } from '@bot-bottle/core';
import type { Podman } from './podman.js';

/** Runs "$@" in the background with stdin kept, records its pid in $1, and passes its exit code on. */
const KILLABLE = 'f="$1"; shift; "$@" <&0 & pid=$!; echo "$pid" > "$f"; wait "$pid"; rc=$?; rm -f "$f"; exit "$rc"';
/** Sends the command's output to the log named in $1 and detaches it from everything else. */
const DETACHED = 'log="$1"; shift; mkdir -p "$(dirname "$log")" 2>/dev/null; exec "$@" >>"$log" 2>&1 </dev/null';

export const DEFAULT_DETACHED_LOG = '/tmp/bot-bottle-agent.log';

export class PodmanBottle implements Bottle {
  constructor(
    private readonly podman: Podman,
    readonly slug: string,
    readonly name: string,
    readonly agentUser: string,
    readonly agentHome: string,
  ) {}

  private flags(options: ExecOptions): string[] {
    const flags = ['-u', options.user === 'root' ? '0' : this.agentUser];
    if (options.workdir !== undefined) flags.push('-w', options.workdir);
    for (const [key, value] of Object.entries(options.env ?? {})) flags.push('-e', `${key}=${value}`);
    return flags;
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const { signal } = options;
    if (signal?.aborted) throw new BotBottleError(`${argv.join(' ')} in ${this.name} was interrupted before it started`);
    // Killing `podman exec` does not stop the command inside, so a
    // cancellable exec records its pid and is killed in the bottle on abort.
    const pidFile = signal ? `/tmp/.bot-bottle-exec-${randomBytes(6).toString('hex')}.pid` : undefined;
    const command = pidFile ? ['sh', '-c', KILLABLE, 'bot-bottle-exec', pidFile, ...argv] : [...argv];
    // The kill runs as the command's own user: root in a bottle has no CAP_KILL.
    const onAbort = pidFile ? () => void this.killInside(pidFile, options.user === 'root' ? '0' : this.agentUser) : undefined;
    if (onAbort) signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await this.podman.run(
        ['exec', ...(options.input !== undefined ? ['-i'] : []), ...this.flags(options), this.name, ...command],
        { allowFailure: true, ...(options.input !== undefined ? { input: options.input } : {}) },
      );
      this.throwIfGone(result.exitCode, result.stderr);
      return result;
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  private async killInside(pidFile: string, user: string): Promise<void> {
    const script =
      'f="$1"; for i in 1 2 3 4 5 6 7 8 9 10; do [ -s "$f" ] && break; sleep 0.1; done; [ -s "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null; rm -f "$f"';
    await this.podman.run(['exec', '-u', user, this.name, 'sh', '-c', script, 'bot-bottle-kill', pidFile], { allowFailure: true }).catch(() => undefined);
  }

  async execInteractive(argv: readonly string[], options: ExecOptions = {}): Promise<number> {
    const tty = Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY);
    const result = await this.podman.run(['exec', '-i', ...(tty ? ['-t'] : []), ...this.flags(options), this.name, ...argv], {
      inherit: true,
      allowFailure: true,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return result.exitCode;
  }

  async execDetached(argv: readonly string[], options: ExecOptions & { readonly logPath?: string } = {}): Promise<void> {
    const logPath = options.logPath ?? DEFAULT_DETACHED_LOG;
    const result = await this.podman.run(
      ['exec', '-d', ...this.flags(options), this.name, 'sh', '-c', DETACHED, 'bot-bottle-detached', logPath, ...argv],
      { allowFailure: true, ...(options.signal ? { signal: options.signal } : {}) },
    );
    this.throwIfGone(result.exitCode, result.stderr);
    if (result.exitCode !== 0) throw new BotBottleError(`could not start ${argv.join(' ')} in ${this.name}: ${result.stderr.trim()}`);
  }

  private throwIfGone(exitCode: number, stderr: string): void {
    if (exitCode !== 0 && /^Error: .*(no such container|not running|container state improper)/im.test(stderr)) {
      throw new BotBottleError(`bottle ${this.slug} is not running (${stderr.trim()})`, {
        hint: `run \`bot-bottle resume ${this.slug}\` to start it again`,
      });
    }
  }
}
