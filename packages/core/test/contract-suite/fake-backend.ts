/**
 * A backend with no engine: bottles are in-memory filesystems answered by a
 * tiny shell (fake-shell.ts), snapshots are files in the state directory.
 * It follows the contract the way a file-artifact backend (smolmachines)
 * does, so the contract suite can be tested without Docker, and it can be
 * broken on purpose (`faults`) to prove the suite notices.
 */
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import {
  BotBottleError,
  CommitAborted,
  Freezer,
  LABELS,
  defineBackendPlugin,
  formatBytes,
  runtimeNameFor,
  type ActiveAgent,
  type Availability,
  type BackendCapabilities,
  type BackendContext,
  type BackendPlugin,
  type Bottle,
  type BottleBackend,
  type BottlePlan,
  type BottleSpec,
  type ExecOptions,
  type ExecResult,
  type FreezeContext,
} from '../../src/index.js';
import { FakeFs, runArgv, type Process, type UserEntry } from './fake-shell.js';

export const FAKE_IMAGE = 'fake.local/agent:latest';
export const FAKE_AGENT: UserEntry = { name: 'agent', uid: 1000, gid: 1000, home: '/home/agent' };
const ROOT: UserEntry = { name: 'root', uid: 0, gid: 0, home: '/root' };
const USERS: readonly UserEntry[] = [ROOT, FAKE_AGENT];
/** Ephemeral directories: left out of snapshots, recreated (root, 1777) on every boot. */
const EPHEMERAL = ['/tmp', '/var/tmp'];
const ARTIFACT = 'committed.fakefs';
const CHUNK = 256 * 1024;

/** Ways to break the fake on purpose. */
export interface FakeFaults {
  /** The freezer tears the bottle down once it has its snapshot (the old stop-then-export design). */
  readonly stopOnCommit?: boolean;
  /** launch always builds from the image and says nothing about the snapshot. */
  readonly ignoreSnapshot?: boolean;
  /** An interrupted freeze leaves its temporary directory behind. */
  readonly leakTempOnAbort?: boolean;
  /** /tmp and /var/tmp go into the snapshot and come back on resume. */
  readonly keepTmpInSnapshot?: boolean;
  /** exec throws for a non-zero exit instead of returning it. */
  readonly execThrowsOnFailure?: boolean;
  /** Snapshots record every file as owned by this uid, as smolvm's packing does; launch restores the home's owner. */
  readonly remapOwnersTo?: number;
  /** The freeze ignores its AbortSignal and writes over the previous snapshot anyway. */
  readonly ignoreAbort?: boolean;
  /** The freeze never returns (a runtime deadlocked by a pause). */
  readonly hangingFreeze?: boolean;
}

export interface FakeBackendOptions {
  readonly name?: string;
  readonly capabilities?: Partial<BackendCapabilities>;
  readonly faults?: FakeFaults;
  readonly availability?: Availability;
}

interface FakeContainer {
  readonly name: string;
  readonly slug: string;
  readonly agentName: string;
  readonly labels: Record<string, string>;
  readonly fs: FakeFs;
  readonly user: UserEntry;
  /** Fires on teardown: ends sleeps and detached commands. */
  readonly stopped: AbortController;
}

/** The "daemon": running bottles, shared by every backend and freezer made from one plugin. */
export class FakeEngine {
  readonly containers = new Map<string, FakeContainer>();

  remove(name: string): void {
    const container = this.containers.get(name);
    if (!container) return;
    container.stopped.abort();
    this.containers.delete(name);
  }
}

function baseImage(): FakeFs {
  const fs = new FakeFs();
  const dir = (path: string, mode = 0o755, owner: UserEntry = ROOT): void =>
    fs.put(path, { type: 'dir', mode, uid: owner.uid, gid: owner.gid });
  for (const path of ['/bin', '/etc', '/home', '/opt', '/usr', '/usr/bin', '/var']) dir(path);
  dir('/root', 0o700);
  dir('/tmp', 0o1777);
  dir('/var/tmp', 0o1777);
  dir(FAKE_AGENT.home, 0o755, FAKE_AGENT);
  dir(`${FAKE_AGENT.home}/work`, 0o755, FAKE_AGENT);
  fs.put('/etc/passwd', {
    type: 'file',
    data: Buffer.from(USERS.map((u) => `${u.name}:x:${u.uid}:${u.gid}::${u.home}:/bin/sh`).join('\n') + '\n'),
  });
  return fs;
}

interface FakePlan extends BottlePlan {
  readonly image: string;
  readonly user: UserEntry;
}

class FakeBottle implements Bottle {
  constructor(
    private readonly engine: FakeEngine,
    private readonly faults: FakeFaults,
    readonly slug: string,
    readonly name: string,
  ) {}

  private container(): FakeContainer {
    const container = this.engine.containers.get(this.name);
    if (!container) throw new BotBottleError(`no bottle named ${this.name} is running`);
    return container;
  }

  private process(container: FakeContainer, options: ExecOptions, signal: AbortSignal): Process {
    const user = options.user === 'root' ? ROOT : container.user;
    return {
      fs: container.fs,
      users: USERS,
      uid: user.uid,
      gid: user.gid,
      env: { PATH: '/usr/bin:/bin', HOME: user.home, USER: user.name, ...options.env },
      cwd: options.workdir ?? user.home,
      signal,
      positional: ['sh'],
      status: 0,
    };
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const container = this.container();
    const signals = [container.stopped.signal, ...(options.signal ? [options.signal] : [])];
    const proc = this.process(container, options, AbortSignal.any(signals));
    const outcome = await runArgv(argv, proc, Buffer.from(options.input ?? ''));
    const result = { exitCode: outcome.exitCode, stdout: outcome.stdout.toString(), stderr: outcome.stderr.toString() };
    if (this.faults.execThrowsOnFailure && result.exitCode !== 0) {
      throw new BotBottleError(`command failed with exit code ${result.exitCode}`);
    }
    return result;
  }

  async execInteractive(argv: readonly string[], options: ExecOptions = {}): Promise<number> {
    const result = await this.exec(argv, options);
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    return result.exitCode;
  }

  async execDetached(argv: readonly string[], options: ExecOptions & { readonly logPath?: string } = {}): Promise<void> {
    const container = this.container();
    const proc = this.process(container, options, container.stopped.signal);
    const logPath = options.logPath;
    // Output reaches the log as the command writes it, as with a real runtime.
    const onOutput = logPath
      ? (chunk: Buffer): void => {
          try {
            container.fs.write(logPath, chunk, proc, true);
          } catch {
            // A log that cannot be written is lost.
          }
        }
      : undefined;
    void runArgv(argv, proc, Buffer.from(options.input ?? ''), onOutput).catch(() => undefined);
  }
}

class FakeBackend implements BottleBackend<FakePlan> {
  constructor(
    readonly name: string,
    readonly capabilities: BackendCapabilities,
    private readonly engine: FakeEngine,
    private readonly context: BackendContext,
    private readonly faults: FakeFaults,
    private readonly available: Availability,
  ) {}

  async availability(): Promise<Availability> {
    return this.available;
  }

  async prepare(spec: BottleSpec): Promise<FakePlan> {
    if (spec.bottle.image !== FAKE_IMAGE) {
      throw new BotBottleError(`the fake backend only runs ${FAKE_IMAGE}, not ${spec.bottle.image ?? spec.bottle.dockerfile}`);
    }
    const userName = spec.bottle.user ?? FAKE_AGENT.name;
    const known = USERS.find((u) => u.name === userName);
    if (!known) throw new BotBottleError(`the image has no user ${userName}`);
    const user = { ...known, home: spec.bottle.home ?? known.home };
    return { spec, backend: this.name, runtimeName: runtimeNameFor(spec.slug), image: FAKE_IMAGE, user };
  }

  async launch(plan: FakePlan): Promise<Bottle> {
    const { slug } = plan.spec;
    const { store, reporter } = this.context;
    if (this.engine.containers.has(plan.runtimeName)) {
      throw new BotBottleError(`a bottle named ${plan.runtimeName} is already running`);
    }
    let fs = baseImage();
    const ref = await store.readCommittedRef(slug);
    if (ref && !this.faults.ignoreSnapshot) {
      if (await fileExists(ref)) {
        reporter.info(`booting ${slug} from committed snapshot ${ref}`);
        fs = FakeFs.deserialize(await readFile(ref));
      } else {
        reporter.warn(`committed snapshot ${ref} is gone; building ${slug} from ${plan.image}`, 'snapshot-missing');
      }
    }
    const root = { uid: 0, gid: 0 };
    for (const dir of EPHEMERAL) {
      fs.mkdir(dir, root, { parents: true });
      fs.chown(dir, 0, 0, root);
      fs.chmod(dir, 0o1777, root);
    }
    if (this.faults.remapOwnersTo !== undefined && fs.get(plan.user.home)) {
      fs.chown(plan.user.home, plan.user.uid, plan.user.gid, root, true);
    }
    this.engine.containers.set(plan.runtimeName, {
      name: plan.runtimeName,
      slug,
      agentName: plan.spec.agentName,
      labels: { [LABELS.slug]: slug, [LABELS.agent]: plan.spec.agentName, [LABELS.backend]: this.name },
      fs,
      user: plan.user,
      stopped: new AbortController(),
    });
    return new FakeBottle(this.engine, this.faults, slug, plan.runtimeName);
  }

  async attach(slug: string): Promise<Bottle | undefined> {
    const name = runtimeNameFor(slug);
    return this.engine.containers.has(name) ? new FakeBottle(this.engine, this.faults, slug, name) : undefined;
  }

  async listActive(): Promise<ActiveAgent[]> {
    const active: ActiveAgent[] = [];
    for (const container of this.engine.containers.values()) {
      if (container.labels[LABELS.backend] !== this.name) continue;
      const metadata = await this.context.store.readMetadata(container.slug).catch(() => undefined);
      active.push({
        slug: container.slug,
        agentName: container.agentName,
        backend: this.name,
        runtimeName: container.name,
        ...(metadata ? { startedAt: metadata.startedAt } : {}),
      });
    }
    return active;
  }

  async teardown(slug: string): Promise<void> {
    this.engine.remove(runtimeNameFor(slug));
  }

  async snapshotExists(ref: string): Promise<boolean> {
    return fileExists(ref);
  }
}

class FakeFreezer extends Freezer {
  constructor(
    readonly backendName: string,
    context: BackendContext,
    private readonly engine: FakeEngine,
    private readonly faults: FakeFaults,
  ) {
    super(context);
  }

  protected async freeze({ slug, reporter, store, signal }: FreezeContext): Promise<string> {
    const name = runtimeNameFor(slug);
    const container = this.engine.containers.get(name);
    if (!container) {
      throw new BotBottleError(`bottle ${slug} is not running`, { hint: `resume it first: bot-bottle resume ${slug}` });
    }
    const checkSignal = (): void => {
      if (signal.aborted && !this.faults.ignoreAbort) throw new CommitAborted(slug);
    };
    checkSignal();
    if (this.faults.hangingFreeze) {
      // Stuck until the bottle is removed, like `docker commit` of a paused container.
      await new Promise<void>((resolve) => container.stopped.signal.addEventListener('abort', () => resolve(), { once: true }));
      throw new BotBottleError(`bottle ${slug} was removed while it was being committed`);
    }
    const snapshot = container.fs.snapshot({
      exclude: this.faults.keepTmpInSnapshot ? [] : EPHEMERAL,
      ...(this.faults.remapOwnersTo === undefined ? {} : { remapOwnersTo: this.faults.remapOwnersTo }),
    });
    if (this.faults.stopOnCommit) this.engine.remove(name);
    const bytes = snapshot.serialize();
    const progress = reporter.progress(`snapshotting ${name}`, 'bytes');
    const temp = await store.makeTempDir('fake-commit');
    let finished = false;
    try {
      const file = join(temp, ARTIFACT);
      const handle = await open(file, 'wx');
      try {
        for (let offset = 0; offset < bytes.length; offset += CHUNK) {
          await yieldToLoop();
          checkSignal();
          await handle.write(bytes.subarray(offset, offset + CHUNK));
          progress.update(Math.min(offset + CHUNK, bytes.length));
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      checkSignal();
      const artifact = join(store.dir(slug), ARTIFACT);
      await rename(file, artifact);
      progress.done(formatBytes(bytes.length));
      finished = true;
      return artifact;
    } finally {
      if (!finished) progress.done('interrupted');
      if (finished || !this.faults.leakTempOnAbort) await rm(temp, { recursive: true, force: true });
    }
  }

  protected override exportHint(slug: string, ref: string): string {
    return `to move ${slug} to another host: copy ${ref} to the same path under that host's BOT_BOTTLE_HOME`;
  }
}

async function fileExists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** A plugin over a fresh engine. Every backend and freezer it creates shares that engine. */
export function createFakePlugin(options: FakeBackendOptions = {}): { plugin: BackendPlugin; engine: FakeEngine } {
  const name = options.name ?? 'fake';
  const engine = new FakeEngine();
  const faults = options.faults ?? {};
  const capabilities: BackendCapabilities = {
    commitWhileRunning: true,
    egressEnforcement: false,
    preservesOwnership: true,
    ...options.capabilities,
  };
  const availability = options.availability ?? { available: true };
  const plugin = defineBackendPlugin({
    name,
    contractVersion: '1.0.0',
    capabilities,
    createBackend: (context) => new FakeBackend(name, capabilities, engine, context, faults, availability),
    createFreezer: (context) => new FakeFreezer(name, context, engine, faults),
  });
  return { plugin, engine };
}
