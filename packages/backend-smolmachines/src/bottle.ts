/**
 * A running smolmachines bottle: every command is a `smolvm machine exec`
 * into the VM. Root commands run as they come; agent commands are handed to
 * util-linux `runuser` inside the VM, which drops to the agent user and sets
 * HOME, USER and LOGNAME for it.
 */
import { BotBottleError, type Bottle, type ExecOptions, type ExecResult } from '@bot-bottle/core';
import type { SmolvmCli, SmolvmResult } from './smolvm.js';

export const DEFAULT_DETACHED_LOG = '/tmp/bot-bottle-agent.log';
/** Exit code of a command killed with SIGKILL (what an early-provisioning exec sometimes gets). */
export const KILLED_EXIT_CODE = 137;

export interface BottleIdentity {
  readonly slug: string;
  readonly name: string;
  readonly agentUser: string;
  readonly agentHome: string;
  /** Default working directory (the image's WorkingDir, else the agent's home). */
  readonly workdir: string;
}

/** The argv to run inside the VM for `options.user`. */
export function inVmArgv(identity: BottleIdentity, argv: readonly string[], options: ExecOptions): string[] {
  if (options.user === 'root') return [...argv];
  const env = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`);
  // `env` after runuser so the caller's variables win over the ones runuser sets.
  return ['runuser', '-u', identity.agentUser, '--', ...(env.length > 0 ? ['env', ...env] : []), ...argv];
}

export class SmolmachinesBottle implements Bottle {
  readonly slug: string;
  readonly name: string;
  readonly agentUser: string;
  readonly agentHome: string;
  readonly workdir: string;

  constructor(
    private readonly cli: SmolvmCli,
    identity: BottleIdentity,
  ) {
    this.slug = identity.slug;
    this.name = identity.name;
    this.agentUser = identity.agentUser;
    this.agentHome = identity.agentHome;
    this.workdir = identity.workdir;
  }

  private execOptions(options: ExecOptions) {
    return {
      workdir: options.workdir ?? this.workdir,
      // Root gets the variables from smolvm; the agent's go through `env` (see inVmArgv).
      ...(options.user === 'root' && options.env ? { env: options.env } : {}),
    };
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const result = await this.cli.machineExec(this.name, inVmArgv(this, argv, options), {
      ...this.execOptions(options),
      ...(options.input !== undefined ? { input: options.input, interactive: true } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    this.throwIfGone(result);
    return result;
  }

  async execInteractive(argv: readonly string[], options: ExecOptions = {}): Promise<number> {
    return this.cli.machineExecInteractive(this.name, inVmArgv(this, argv, options), {
      ...this.execOptions(options),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  async execDetached(argv: readonly string[], options: ExecOptions & { readonly logPath?: string } = {}): Promise<void> {
    const logPath = options.logPath ?? DEFAULT_DETACHED_LOG;
    // A trampoline detaches the command from the exec session (setsid, no
    // stdin) and sends its output to the log; argv passes through unquoted.
    const script =
      'log="$1"; shift; mkdir -p "$(dirname "$log")" 2>/dev/null; ' +
      'if command -v setsid >/dev/null 2>&1; then setsid "$@" >>"$log" 2>&1 </dev/null & else nohup "$@" >>"$log" 2>&1 </dev/null & fi';
    const inner = inVmArgv(this, ['sh', '-c', script, 'bot-bottle-detached', logPath, ...argv], options);
    const result = await this.cli.machineExec(this.name, inner, {
      ...this.execOptions(options),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    this.throwIfGone(result);
    if (result.exitCode !== 0) {
      throw new BotBottleError(`could not start ${argv.join(' ')} in ${this.name}: ${result.stderr.trim()}`);
    }
  }

  private throwIfGone(result: SmolvmResult): void {
    if (result.exitCode === 0) return;
    if (/(machine|vm) .*(not found|does not exist|not running)|no such machine/i.test(result.stderr)) {
      throw new BotBottleError(`bottle ${this.slug} is not running (${result.stderr.trim()})`, {
        hint: `run \`bot-bottle resume ${this.slug}\` to start it again`,
      });
    }
  }
}
