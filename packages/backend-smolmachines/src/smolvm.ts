/**
 * A thin wrapper around the `smolvm` CLI: one small function per
 * subcommand the backend uses, and nothing clever in between.
 *
 * Two result shapes, on purpose:
 * - {@link SmolvmCli.machineExec} returns `{ exitCode, stdout, stderr }` and
 *   never throws for the exit code of the command inside the VM: callers
 *   branch on it (tar's exit 1, a probe that is not ready yet, exit 137).
 * - every other call throws a {@link SmolvmError} carrying argv, exit code
 *   and stderr when smolvm fails: nothing useful to branch on there.
 *
 * The binary is `BOT_BOTTLE_SMOLVM` when set (tests point it at the
 * emulator), else `smolvm` on PATH.
 */
import { spawn } from 'node:child_process';
import { BotBottleError, ProcessError } from '@bot-bottle/core';

export const SMOLVM_ENV = 'BOT_BOTTLE_SMOLVM';
export const SMOLVM_FIX =
  'install smolvm (https://smolmachines.com) and put it on PATH, or set BOT_BOTTLE_SMOLVM to the binary';

/** smolvm ran and failed: core's ProcessError (argv, exit code, stderr), named for this backend. */
export class SmolvmError extends ProcessError {
  constructor(argv: readonly string[], exitCode: number, stderr: string) {
    super(argv, exitCode, stderr);
    this.name = 'SmolvmError';
  }
}

export interface SmolvmResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface SpawnOptions {
  readonly signal?: AbortSignal;
  /** Text for stdin; stdin is closed right away when absent. */
  readonly input?: string;
  /** Attach the terminal (stdin/stdout/stderr inherited). */
  readonly inherit?: boolean;
  readonly timeoutMs?: number;
}

/** Runs one smolvm command; swappable in unit tests. */
export type SmolvmRunner = (argv: readonly string[], options: SpawnOptions) => Promise<SmolvmResult>;

/** The binary to run: `BOT_BOTTLE_SMOLVM` when set and non-empty, else `smolvm`. */
export function smolvmBinary(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const fromEnv = env[SMOLVM_ENV];
  return fromEnv && fromEnv.length > 0 ? fromEnv : 'smolvm';
}

/** The default runner: `child_process.spawn` with pipes (smolvm exec wants a pipe on stdout). */
export function spawnRunner(env: Readonly<Record<string, string | undefined>> = process.env): SmolvmRunner {
  return (argv, options) =>
    new Promise<SmolvmResult>((resolve, reject) => {
      const [file, ...args] = argv;
      if (!file) {
        reject(new TypeError('empty argv'));
        return;
      }
      if (options.signal?.aborted) {
        reject(new BotBottleError(`\`${argv.join(' ')}\` was interrupted`, { exitCode: 130 }));
        return;
      }
      const child = spawn(file, args, {
        env: { ...process.env, ...env } as NodeJS.ProcessEnv,
        stdio: options.inherit ? 'inherit' : ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout?.on('data', (c: Buffer) => out.push(c));
      child.stderr?.on('data', (c: Buffer) => err.push(c));
      if (child.stdin) {
        child.stdin.on('error', () => undefined);
        child.stdin.end(options.input ?? undefined);
      }
      let aborted = false;
      let timedOut = false;
      const onAbort = (): void => {
        aborted = true;
        child.kill('SIGTERM');
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const timer = options.timeoutMs
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs)
        : undefined;
      child.on('error', (error: NodeJS.ErrnoException) => {
        options.signal?.removeEventListener('abort', onAbort);
        if (timer) clearTimeout(timer);
        if (error.code === 'ENOENT') {
          reject(new BotBottleError(`\`${file}\` is not installed or not on PATH`, { hint: SMOLVM_FIX }));
        } else reject(error);
      });
      child.on('close', (code, signal) => {
        options.signal?.removeEventListener('abort', onAbort);
        if (timer) clearTimeout(timer);
        const stderr = Buffer.concat(err).toString('utf8');
        if (aborted) {
          reject(new BotBottleError(`\`${argv.join(' ')}\` was interrupted`, { exitCode: 130 }));
          return;
        }
        if (timedOut) {
          reject(new SmolvmError(argv, 124, `${stderr}\ntimed out after ${options.timeoutMs} ms`));
          return;
        }
        const signalCode = signal ? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 0) : undefined;
        resolve({ exitCode: code ?? signalCode ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr });
      });
    });
}

// ---------------------------------------------------------------- argv shapes

export interface MachineCreateOptions {
  /** An OCI image reference to boot (exclusive with `from`). */
  readonly image?: string;
  /** A `.smolmachine` artifact to boot (exclusive with `image`). */
  readonly from?: string;
  /** Give the VM a network. Always sent when a CIDR is allowed. */
  readonly net?: boolean;
  readonly allowCidrs?: readonly string[];
  /** Environment set inside the VM. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface MachineExecOptions {
  readonly workdir?: string;
  /** smolvm's duration syntax, e.g. `30s`. */
  readonly timeout?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Keep stdin open and attach a terminal (`-i -t`). */
  readonly interactive?: boolean;
  readonly tty?: boolean;
}

export const argvFor = {
  packCreateImage: (ref: string, out: string): string[] => ['pack', 'create', '--image', ref, '-o', out],
  packCreateFromVm: (name: string, out: string): string[] => ['pack', 'create', '--from-vm', name, '-o', out],
  machineCreate(name: string, options: MachineCreateOptions): string[] {
    if (options.image !== undefined && options.from !== undefined) {
      throw new TypeError('machineCreate: pass either image or from, not both');
    }
    const args = ['machine', 'create'];
    if (options.image !== undefined) args.push('--image', options.image);
    if (options.from !== undefined) args.push('--from', options.from);
    const cidrs = options.allowCidrs ?? [];
    // `--allow-cidr` is documented to imply `--net`, but with `--from` it
    // does not: the machine comes up without a network. Always say it.
    if (options.net || cidrs.length > 0) args.push('--net');
    for (const cidr of cidrs) args.push('--allow-cidr', cidr);
    for (const [key, value] of Object.entries(options.env ?? {})) args.push('-e', `${key}=${value}`);
    args.push(name);
    return args;
  },
  machineStart: (name: string): string[] => ['machine', 'start', '--name', name],
  machineStop: (name: string): string[] => ['machine', 'stop', '--name', name],
  machineDelete: (name: string): string[] => ['machine', 'delete', '-f', name],
  machineExec(name: string, argv: readonly string[], options: MachineExecOptions = {}): string[] {
    if (argv.length === 0) throw new TypeError('machineExec: empty command');
    const args = ['machine', 'exec', '--name', name];
    if (options.interactive) args.push('-i');
    if (options.tty) args.push('-t');
    if (options.workdir !== undefined) args.push('-w', options.workdir);
    if (options.timeout !== undefined) args.push('--timeout', options.timeout);
    for (const [key, value] of Object.entries(options.env ?? {})) args.push('-e', `${key}=${value}`);
    // `--` keeps smolvm's own parser off the command's flags.
    args.push('--', ...argv);
    return args;
  },
  machineCp: (src: string, dst: string): string[] => ['machine', 'cp', src, dst],
  machineList: (): string[] => ['machine', 'ls', '--json'],
};

/** `NAME:path`, the in-VM side of `machine cp`. */
export function vmPath(name: string, path: string): string {
  return `${name}:${path}`;
}

export interface MachineInfo {
  readonly name: string;
  /** `running`, `stopped`, ... as smolvm reports it (lower-cased). */
  readonly state: string;
  readonly raw: Record<string, unknown>;
}

/** Parse `machine ls --json`, tolerating an array or `{ machines: [...] }`, `state` or `status`. */
export function parseMachineList(stdout: string): MachineInfo[] {
  const text = stdout.trim();
  if (text.length === 0) return [];
  const parsed = JSON.parse(text) as unknown;
  const items = Array.isArray(parsed)
    ? parsed
    : parsed && typeof parsed === 'object' && Array.isArray((parsed as { machines?: unknown }).machines)
      ? (parsed as { machines: unknown[] }).machines
      : [];
  const machines: MachineInfo[] = [];
  for (const item of items) {
    if (!item || typeof item !== 'object') continue;
    const raw = item as Record<string, unknown>;
    const name = raw.name ?? raw.Name;
    if (typeof name !== 'string') continue;
    const state = raw.state ?? raw.status ?? raw.State ?? raw.Status;
    machines.push({ name, state: typeof state === 'string' ? state.toLowerCase() : 'unknown', raw });
  }
  return machines;
}

// ---------------------------------------------------------------- the CLI

export class SmolvmCli {
  readonly binary: string;
  private readonly runner: SmolvmRunner;

  constructor(env: Readonly<Record<string, string | undefined>> = process.env, runner?: SmolvmRunner) {
    this.binary = smolvmBinary(env);
    this.runner = runner ?? spawnRunner(env);
  }

  /** Run `smolvm ...args`; returns whatever happened. */
  raw(args: readonly string[], options: SpawnOptions = {}): Promise<SmolvmResult> {
    return this.runner([this.binary, ...args], options);
  }

  /** Run `smolvm ...args`; a non-zero exit throws a {@link SmolvmError}. */
  async checked(args: readonly string[], options: SpawnOptions = {}): Promise<SmolvmResult> {
    const result = await this.raw(args, options);
    if (result.exitCode !== 0) throw new SmolvmError([this.binary, ...args], result.exitCode, result.stderr);
    return result;
  }

  async version(): Promise<string> {
    return (await this.checked(['--version'], { timeoutMs: 20_000 })).stdout.trim();
  }

  /** `pack create --image REF -o OUT`: writes OUT (launcher) and OUT.smolmachine (artifact). */
  async packCreateImage(ref: string, out: string, options: SpawnOptions = {}): Promise<void> {
    await this.checked(argvFor.packCreateImage(ref, out), options);
  }

  /** `pack create --from-vm NAME -o OUT`. Needs a stopped VM, which is why commits do not use it. */
  async packCreateFromVm(name: string, out: string, options: SpawnOptions = {}): Promise<void> {
    await this.checked(argvFor.packCreateFromVm(name, out), options);
  }

  async machineCreate(name: string, options: MachineCreateOptions, spawnOptions: SpawnOptions = {}): Promise<void> {
    await this.checked(argvFor.machineCreate(name, options), spawnOptions);
  }

  async machineStart(name: string, options: SpawnOptions = {}): Promise<void> {
    await this.checked(argvFor.machineStart(name), options);
  }

  async machineStop(name: string, options: SpawnOptions = {}): Promise<void> {
    await this.checked(argvFor.machineStop(name), options);
  }

  async machineDelete(name: string, options: SpawnOptions = {}): Promise<void> {
    await this.checked(argvFor.machineDelete(name), options);
  }

  /** Run a command in the VM. Never throws for the command's own exit code. */
  machineExec(
    name: string,
    argv: readonly string[],
    options: MachineExecOptions & { readonly input?: string; readonly signal?: AbortSignal } = {},
  ): Promise<SmolvmResult> {
    return this.raw(argvFor.machineExec(name, argv, options), {
      ...(options.input !== undefined ? { input: options.input } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** Run a command in the VM attached to this terminal; resolves to its exit code. */
  async machineExecInteractive(
    name: string,
    argv: readonly string[],
    options: MachineExecOptions & { readonly signal?: AbortSignal } = {},
  ): Promise<number> {
    const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
    const result = await this.raw(argvFor.machineExec(name, argv, { ...options, interactive: true, tty }), {
      inherit: true,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return result.exitCode;
  }

  /** `machine cp SRC DST`; an in-VM side is written `NAME:path` (see {@link vmPath}). */
  async machineCp(src: string, dst: string, options: SpawnOptions = {}): Promise<void> {
    await this.checked(argvFor.machineCp(src, dst), options);
  }

  async machineList(options: SpawnOptions = {}): Promise<MachineInfo[]> {
    const result = await this.checked(argvFor.machineList(), options);
    try {
      return parseMachineList(result.stdout);
    } catch (error) {
      throw new SmolvmError([this.binary, ...argvFor.machineList()], 0, `unparsable output (${(error as Error).message}): ${result.stdout.slice(0, 400)}`);
    }
  }
}
