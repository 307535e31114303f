import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  BotBottleError,
  InvalidSlugError,
  ManifestError,
  RecordingReporter,
  StateStore,
  UnknownAgentError,
  UnknownSlugError,
  agentCommand,
  endBottle,
  listBottles,
  loadManifest,
  resumeBottle,
  runtimeNameFor,
  startBottle,
  validateManifest,
  type ActiveAgent,
  type Availability,
  type Bottle,
  type BottleBackend,
  type BottlePlan,
  type BottleSpec,
  type ExecResult,
  type LoadedManifest,
  type SessionDeps,
} from '../src/index.js';

/** An in-memory runtime: enough to exercise the orchestration, nothing more. */
class FakeBackend implements BottleBackend {
  readonly capabilities = { commitWhileRunning: true, egressEnforcement: false, preservesOwnership: true };
  readonly running = new Map<string, Bottle>();
  readonly snapshots = new Set<string>();
  readonly calls: string[] = [];
  failPrepare = false;
  failLaunch = false;

  constructor(readonly name = 'fake') {}

  async availability(): Promise<Availability> {
    return { available: true };
  }

  async prepare(spec: BottleSpec): Promise<BottlePlan> {
    this.calls.push(`prepare ${spec.slug}`);
    if (this.failPrepare) throw new BotBottleError('image not found');
    return { spec, backend: this.name, runtimeName: runtimeNameFor(spec.slug) };
  }

  async launch(plan: BottlePlan): Promise<Bottle> {
    this.calls.push(`launch ${plan.spec.slug}`);
    if (this.failLaunch) throw new BotBottleError('the runtime refused');
    const bottle: Bottle = {
      slug: plan.spec.slug,
      name: plan.runtimeName,
      exec: async (): Promise<ExecResult> => ({ exitCode: 0, stdout: '', stderr: '' }),
      execInteractive: async () => 0,
      execDetached: async () => undefined,
    };
    this.running.set(plan.spec.slug, bottle);
    return bottle;
  }

  async attach(slug: string): Promise<Bottle | undefined> {
    return this.running.get(slug);
  }

  async listActive(): Promise<ActiveAgent[]> {
    return [...this.running.values()].map((bottle) => ({
      slug: bottle.slug,
      agentName: '',
      backend: this.name,
      runtimeName: bottle.name,
    }));
  }

  async teardown(slug: string): Promise<void> {
    this.calls.push(`teardown ${slug}`);
    this.running.delete(slug);
  }

  async snapshotExists(ref: string): Promise<boolean> {
    return this.snapshots.has(ref);
  }
}

const MANIFEST = {
  bottles: { base: { backend: 'fake', image: 'node:22' }, other: { backend: 'docker', image: 'node:22' } },
  agents: {
    demo: { bottle: 'base', template: 'claude' },
    elsewhere: { bottle: 'other', template: 'codex' },
  },
};

let home: string;
let project: string;
let loaded: LoadedManifest;
let backend: FakeBackend;
let store: StateStore;
let reporter: RecordingReporter;
let deps: SessionDeps;

async function listTree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[])).map(String).sort();
}

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'bb-session-home-'));
  project = await mkdtemp(join(tmpdir(), 'bb-session-project-'));
  await writeFile(join(project, 'bot-bottle.json'), JSON.stringify(MANIFEST));
  loaded = await loadManifest(project);
  backend = new FakeBackend();
  store = new StateStore(home);
  reporter = new RecordingReporter();
  deps = { backend, store, reporter };
});

afterEach(async () => {
  await rm(home, { recursive: true, force: true });
  await rm(project, { recursive: true, force: true });
});

describe('agentCommand', () => {
  const agent = (raw: object) => validateManifest({ bottles: { b: { image: 'x' } }, agents: { a: { bottle: 'b', ...raw } } }, 'm.json').agents.a!;

  it('claude appends the prompt to the system prompt', () => {
    expect(agentCommand(agent({ template: 'claude' }))).toEqual(['claude']);
    expect(agentCommand(agent({ template: 'claude', prompt: 'be brief' }))).toEqual(['claude', '--append-system-prompt', 'be brief']);
  });

  it('codex takes the prompt as its argument', () => {
    expect(agentCommand(agent({ template: 'codex' }))).toEqual(['codex']);
    expect(agentCommand(agent({ template: 'codex', prompt: 'fix the tests' }))).toEqual(['codex', 'fix the tests']);
  });

  it('shell runs a string through sh -c and an array as is', () => {
    expect(agentCommand(agent({ command: 'npm test && echo ok' }))).toEqual(['sh', '-c', 'npm test && echo ok']);
    expect(agentCommand(agent({ command: ['bash', '-l'] }))).toEqual(['bash', '-l']);
  });
});

describe('startBottle', () => {
  it('writes metadata, prepares and launches', async () => {
    const started = await startBottle(deps, { loaded, agentName: 'demo', cwd: '/home/me/code' });
    expect(started.slug).toMatch(/^demo-[a-z0-9]{5}$/);
    expect(started.bottle.name).toBe(`bot-bottle-${started.slug}`);
    expect(started.plan.spec).toMatchObject({ slug: started.slug, agentName: 'demo', bottleName: 'base', manifestDir: project, cwd: '/home/me/code' });
    expect(backend.calls).toEqual([`prepare ${started.slug}`, `launch ${started.slug}`]);
    const metadata = await store.readMetadata(started.slug);
    expect(metadata).toMatchObject({ identity: started.slug, agent: 'demo', backend: 'fake', cwd: '/home/me/code', manifestPath: loaded.file });
    expect(Date.parse(metadata!.startedAt)).not.toBeNaN();
  });

  it('uses the slug it is given', async () => {
    const started = await startBottle(deps, { loaded, agentName: 'demo', cwd: '/x', slug: 'my-bottle' });
    expect(started.slug).toBe('my-bottle');
    await expect(startBottle(deps, { loaded, agentName: 'demo', cwd: '/x', slug: 'my-bottle' })).rejects.toThrow(/already exists/);
    await expect(startBottle(deps, { loaded, agentName: 'demo', cwd: '/x', slug: '../x' })).rejects.toBeInstanceOf(InvalidSlugError);
  });

  it('fails on an unknown agent before touching anything', async () => {
    await expect(startBottle(deps, { loaded, agentName: 'nope', cwd: '/x' })).rejects.toBeInstanceOf(UnknownAgentError);
    expect(backend.calls).toEqual([]);
    expect(await listTree(home)).toEqual([]);
  });

  it('fails when the agent belongs to another backend, before touching anything', async () => {
    const error = await startBottle(deps, { loaded, agentName: 'elsewhere', cwd: '/x' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toContain('"docker"');
    expect(backend.calls).toEqual([]);
    expect(await listTree(home)).toEqual([]);
  });

  it('cleans up runtime objects and state when launch fails', async () => {
    backend.failLaunch = true;
    await expect(startBottle(deps, { loaded, agentName: 'demo', cwd: '/x', slug: 'doomed' })).rejects.toThrow('the runtime refused');
    expect(backend.calls).toEqual(['prepare doomed', 'launch doomed', 'teardown doomed']);
    expect(await store.exists('doomed')).toBe(false);
    expect(await listTree(store.stateRoot)).toEqual([]);
  });

  it('removes state but tears nothing down when prepare fails', async () => {
    backend.failPrepare = true;
    await expect(startBottle(deps, { loaded, agentName: 'demo', cwd: '/x', slug: 'doomed' })).rejects.toThrow('image not found');
    expect(backend.calls).toEqual(['prepare doomed']);
    expect(await store.exists('doomed')).toBe(false);
  });

  it('reports a failed cleanup without hiding the launch error', async () => {
    backend.failLaunch = true;
    backend.teardown = async () => {
      throw new Error('teardown broke too');
    };
    await expect(startBottle(deps, { loaded, agentName: 'demo', cwd: '/x' })).rejects.toThrow('the runtime refused');
    expect(reporter.warnings).toEqual([expect.objectContaining({ code: 'cleanup-failed', message: expect.stringContaining('teardown broke too') })]);
  });
});

describe('resumeBottle', () => {
  async function committedAndStopped(): Promise<string> {
    const { slug } = await startBottle(deps, { loaded, agentName: 'demo', cwd: '/home/me/code' });
    await store.writeCommittedRef(slug, `snap-${slug}`);
    await store.markPreserved(slug);
    backend.snapshots.add(`snap-${slug}`);
    await endBottle(deps, slug);
    backend.calls.length = 0;
    return slug;
  }

  it('relaunches under the same slug from the committed snapshot, reloading the recorded manifest', async () => {
    const slug = await committedAndStopped();
    const before = (await store.readMetadata(slug))!.startedAt;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const resumed = await resumeBottle(deps, { slug });
    expect(resumed.slug).toBe(slug);
    expect(resumed.fromSnapshot).toBe(true);
    expect(resumed.plan.spec).toMatchObject({ slug, agentName: 'demo', cwd: '/home/me/code', manifestDir: project });
    expect(backend.calls).toEqual([`prepare ${slug}`, `launch ${slug}`]);
    const after = (await store.readMetadata(slug))!.startedAt;
    expect(Date.parse(after)).toBeGreaterThan(Date.parse(before));
  });

  it('says when the recorded snapshot is gone', async () => {
    const slug = await committedAndStopped();
    backend.snapshots.clear();
    expect((await resumeBottle(deps, { slug, loaded })).fromSnapshot).toBe(false);
  });

  it('refuses a bottle that is still running', async () => {
    const { slug } = await startBottle(deps, { loaded, agentName: 'demo', cwd: '/x' });
    const error = await resumeBottle(deps, { slug, loaded }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BotBottleError);
    expect((error as BotBottleError).message).toContain('already running');
    expect((error as BotBottleError).hint).toContain('bot-bottle exec');
    expect((error as BotBottleError).hint).toContain('bot-bottle cleanup');
  });

  it('explains a recorded manifest that no longer exists', async () => {
    const slug = await committedAndStopped();
    await rm(join(project, 'bot-bottle.json'));
    const error = await resumeBottle(deps, { slug }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as ManifestError).message).toContain('no longer exists');
    expect((error as ManifestError).hint).toContain('from the project directory');
  });

  it('rejects invalid and unknown slugs', async () => {
    await expect(resumeBottle(deps, { slug: '../x' })).rejects.toBeInstanceOf(InvalidSlugError);
    await expect(resumeBottle(deps, { slug: 'nobody-00000' })).rejects.toBeInstanceOf(UnknownSlugError);
  });

  it('tears down but keeps state when the relaunch fails', async () => {
    const slug = await committedAndStopped();
    backend.failLaunch = true;
    await expect(resumeBottle(deps, { slug, loaded })).rejects.toThrow('the runtime refused');
    expect(backend.calls).toEqual([`prepare ${slug}`, `launch ${slug}`, `teardown ${slug}`]);
    expect(await store.readCommittedRef(slug)).toBe(`snap-${slug}`);
  });

  it('refuses a bottle recorded on another backend', async () => {
    const slug = await committedAndStopped();
    const docker = new FakeBackend('docker');
    await expect(resumeBottle({ ...deps, backend: docker }, { slug, loaded })).rejects.toBeInstanceOf(BackendUnavailableError);
  });
});

describe('endBottle', () => {
  it('tears down and removes the state of an uncommitted bottle', async () => {
    const { slug } = await startBottle(deps, { loaded, agentName: 'demo', cwd: '/x' });
    expect(await endBottle(deps, slug)).toEqual({ removedState: true, preserved: false });
    expect(backend.running.size).toBe(0);
    expect(await store.exists(slug)).toBe(false);
  });

  it('keeps the state of a committed bottle', async () => {
    const { slug } = await startBottle(deps, { loaded, agentName: 'demo', cwd: '/x' });
    await store.markPreserved(slug);
    expect(await endBottle(deps, slug)).toEqual({ removedState: false, preserved: true });
    expect(backend.running.size).toBe(0);
    expect(await store.exists(slug)).toBe(true);
  });

  it('is idempotent and validates the slug', async () => {
    expect(await endBottle(deps, 'never-started')).toEqual({ removedState: true, preserved: false });
    await expect(endBottle(deps, 'a/b')).rejects.toBeInstanceOf(InvalidSlugError);
  });
});

describe('listBottles', () => {
  it('lists running bottles from every backend with what the state store knows', async () => {
    const other = new FakeBackend('other');
    const first = await startBottle(deps, { loaded, agentName: 'demo', cwd: '/x', slug: 'b-first' });
    await store.writeCommittedRef(first.slug, 'snap-b-first');
    await store.markPreserved(first.slug);
    await startBottle(deps, { loaded, agentName: 'demo', cwd: '/x', slug: 'a-second' });
    // Found on the runtime but never started through bot-bottle (no state), and a label we did not write.
    other.running.set('c-stray', { slug: 'c-stray', name: 'bot-bottle-c-stray' } as Bottle);
    other.running.set('Bad/Slug', { slug: 'Bad/Slug', name: 'bot-bottle-bad' } as Bottle);

    const listed = await listBottles([backend, other], store);
    expect(listed.map((bottle) => bottle.slug)).toEqual(['a-second', 'b-first', 'Bad/Slug', 'c-stray'].sort((a, b) => a.localeCompare(b)));
    const bySlug = Object.fromEntries(listed.map((bottle) => [bottle.slug, bottle]));
    expect(bySlug['b-first']).toMatchObject({ agentName: 'demo', backend: 'fake', preserved: true, committedRef: 'snap-b-first' });
    expect(bySlug['b-first']?.startedAt).toBeDefined();
    expect(bySlug['a-second']).toMatchObject({ agentName: 'demo', preserved: false });
    expect(bySlug['a-second']).not.toHaveProperty('committedRef');
    expect(bySlug['c-stray']).toMatchObject({ backend: 'other', preserved: false });
    expect(bySlug['Bad/Slug']).toMatchObject({ preserved: false });
  });

  it('still lists a bottle whose metadata is corrupt', async () => {
    await startBottle(deps, { loaded, agentName: 'demo', cwd: '/x', slug: 'broken' });
    await mkdir(store.dir('broken'), { recursive: true });
    await writeFile(join(store.dir('broken'), 'metadata.json'), '{');
    const listed = await listBottles([backend], store);
    expect(listed).toEqual([expect.objectContaining({ slug: 'broken', preserved: false })]);
  });
});

describe('egress policy enforcement', () => {
  const CONFINED = {
    bottles: {
      base: { backend: 'fake', image: 'node:22' },
      confined: { backend: 'fake', image: 'node:22', egress: { allow: ['api.example.com'] } },
    },
    agents: {
      demo: { bottle: 'base', template: 'claude' },
      boxed: { bottle: 'confined', template: 'claude' },
    },
  };

  async function writeConfined(): Promise<LoadedManifest> {
    await writeFile(join(project, 'bot-bottle.json'), JSON.stringify(CONFINED));
    return loadManifest(project);
  }

  it('refuses to start a bottle with egress on a backend that cannot enforce it, touching nothing', async () => {
    const confined = await writeConfined();
    const error = await startBottle(deps, { loaded: confined, agentName: 'boxed', cwd: '/x' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BotBottleError);
    expect((error as BotBottleError).message).toBe(
      'bottle confined declares an egress policy, but the fake backend cannot enforce one; refusing to run it unconfined',
    );
    expect((error as BotBottleError).hint).toContain('bottles.confined.egress');
    expect(backend.calls).toEqual([]);
    expect(await listTree(home)).toEqual([]);
  });

  it('an empty egress block still counts as a policy (nothing allowed)', async () => {
    await writeFile(
      join(project, 'bot-bottle.json'),
      JSON.stringify({ ...CONFINED, bottles: { ...CONFINED.bottles, confined: { backend: 'fake', image: 'x', egress: {} } } }),
    );
    const confined = await loadManifest(project);
    await expect(startBottle(deps, { loaded: confined, agentName: 'boxed', cwd: '/x' })).rejects.toThrow(/cannot enforce/);
    expect(backend.calls).toEqual([]);
  });

  it('starts it on a backend that enforces egress, and bottles without egress anywhere', async () => {
    const confined = await writeConfined();
    await expect(startBottle(deps, { loaded: confined, agentName: 'demo', cwd: '/x' })).resolves.toBeDefined();
    backend.capabilities.egressEnforcement = true;
    const started = await startBottle(deps, { loaded: confined, agentName: 'boxed', cwd: '/x' });
    expect(started.plan.spec.bottle.egress).toEqual({ allow: ['api.example.com'], routes: [] });
  });

  it('refuses to resume a bottle whose manifest now declares egress, before launching anything', async () => {
    const { slug } = await startBottle(deps, { loaded, agentName: 'demo', cwd: '/x' });
    await store.markPreserved(slug);
    await endBottle(deps, slug);
    backend.calls.length = 0;
    await writeFile(
      join(project, 'bot-bottle.json'),
      JSON.stringify({ ...MANIFEST, bottles: { ...MANIFEST.bottles, base: { ...MANIFEST.bottles.base, egress: { allow: ['x.example'] } } } }),
    );
    const error = await resumeBottle(deps, { slug }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toContain('refusing to run it unconfined');
    expect(backend.calls).toEqual([]);
    expect(await store.exists(slug)).toBe(true);
  });
});
