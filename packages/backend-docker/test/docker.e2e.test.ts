/**
 * Docker-specific behaviour, against the real engine: hardening, labels and
 * the per-slug network, failed launches leaving nothing behind, commits of
 * stopped/missing bottles, and resuming when the snapshot was pruned.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentSchema,
  bottleSchema,
  committedImageFor,
  generateSlug,
  LABELS,
  RecordingReporter,
  StateStore,
  type BackendContext,
  type BottleSpec,
} from '@bot-bottle/core';
import plugin, { type DockerBackend, type DockerFreezer } from '../src/index.js';
import { skipWithoutDocker } from '../../../test-fixtures/lib/engine-gate.js';

const FIXTURE_IMAGE = 'bot-bottle-fixture-agent:latest';

function docker(...args: string[]): string {
  return execFileSync('docker', args, { stdio: 'pipe', encoding: 'utf8' }).trim();
}

function dockerOk(...args: string[]): boolean {
  try {
    docker(...args);
    return true;
  } catch {
    return false;
  }
}

interface Harness {
  root: string;
  store: StateStore;
  reporter: RecordingReporter;
  context: BackendContext;
  backend: DockerBackend;
  freezer: DockerFreezer;
  slugs: string[];
}

describe.skipIf(skipWithoutDocker())('docker backend (real engine)', () => {
  let h: Harness;

  beforeAll(async () => {
    const root = await mkdtemp(join(tmpdir(), 'bot-bottle-docker-e2e-'));
    const store = new StateStore(join(root, 'home'));
    const reporter = new RecordingReporter();
    const context: BackendContext = { store, reporter, env: { ...process.env, BOT_BOTTLE_HOME: store.home } };
    h = {
      root,
      store,
      reporter,
      context,
      backend: plugin.createBackend(context) as DockerBackend,
      freezer: plugin.createFreezer(context) as DockerFreezer,
      slugs: [],
    };
  });

  afterAll(async () => {
    if (!h) return;
    for (const slug of h.slugs) {
      await h.backend.teardown(slug).catch(() => undefined);
      dockerOk('rm', '-f', `bot-bottle-${slug}`);
      dockerOk('image', 'rm', '-f', committedImageFor(slug));
    }
    dockerOk('image', 'rm', '-f', 'bot-bottle-agent-e2e-broken:latest');
    await rm(h.root, { recursive: true, force: true });
  });

  function newSlug(): string {
    const slug = generateSlug('dockere2e');
    h.slugs.push(slug);
    return slug;
  }

  function spec(slug: string, bottle: Record<string, unknown> = { image: FIXTURE_IMAGE }, bottleName = 'e2e'): BottleSpec {
    return {
      slug,
      agentName: 'dockere2e',
      agent: agentSchema.parse({ bottle: bottleName, template: 'shell', command: ['sleep', 'infinity'] }),
      bottleName,
      bottle: bottleSchema.parse({ backend: 'docker', ...bottle }),
      manifestDir: h.root,
      cwd: h.root,
    };
  }

  async function start(slug: string, bottle?: Record<string, unknown>) {
    await h.store.writeMetadata({
      identity: slug,
      agent: 'dockere2e',
      backend: 'docker',
      cwd: h.root,
      startedAt: new Date().toISOString(),
    });
    const plan = await h.backend.prepare(spec(slug, bottle));
    return h.backend.launch(plan);
  }

  function inspect(name: string, format: string): string {
    return docker('inspect', '--format', format, name);
  }

  it('availability() reports the engine, and an unreachable one with a fix', async () => {
    expect(await h.backend.availability()).toEqual({ available: true });
    const away = plugin.createBackend({ ...h.context, env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent.sock' } });
    const result = await away.availability();
    expect(result.available).toBe(false);
    expect(result.reason).toMatch(/not reachable/);
    expect(result.fix).toMatch(/DOCKER_HOST/);
    expect(result.fix).toMatch(/scripts\/engine\.sh/);
  });

  it('launches a hardened bottle on its own labelled network', async () => {
    const slug = newSlug();
    const name = `bot-bottle-${slug}`;
    const bottle = await start(slug, { image: FIXTURE_IMAGE, resources: { memory: '512m', pids: 256, cpus: 1 } });
    expect(bottle.name).toBe(name);

    expect(inspect(name, '{{.State.Running}}')).toBe('true');
    expect(inspect(name, '{{json .HostConfig.CapDrop}}')).toBe('["ALL"]');
    const capAdd = (JSON.parse(inspect(name, '{{json .HostConfig.CapAdd}}')) as string[]).map((c) => c.replace(/^CAP_/, ''));
    expect(capAdd.sort()).toEqual(['CHOWN', 'DAC_OVERRIDE', 'FOWNER']);
    expect(inspect(name, '{{json .HostConfig.SecurityOpt}}')).toBe('["no-new-privileges"]');
    expect(inspect(name, '{{.HostConfig.Privileged}}')).toBe('false');
    // Only the idle init is root (so root execs keep their three capabilities); the agent is the image's user.
    expect(inspect(name, '{{.Config.User}}')).toBe('0');
    expect(inspect(name, '{{index .Config.Labels "dev.bot-bottle.user"}}')).toBe('node');
    expect(inspect(name, '{{.HostConfig.Memory}}')).toBe(String(512 * 1024 * 1024));
    expect(inspect(name, '{{.HostConfig.PidsLimit}}')).toBe('256');
    expect(inspect(name, '{{.HostConfig.NanoCpus}}')).toBe('1000000000');
    expect(inspect(name, '{{json .Mounts}}')).toBe('[]');
    expect(inspect(name, '{{.HostConfig.Init}}')).toBe('true');

    // The agent runs unprivileged with no effective capabilities; root exec still works.
    const agent = await bottle.exec(['sh', '-c', 'id -u; grep -E "CapEff|NoNewPrivs" /proc/self/status; test -e /var/run/docker.sock && echo SOCKET || true']);
    expect(agent.exitCode).toBe(0);
    expect(agent.stdout).toMatch(/^1000\n/);
    expect(agent.stdout).toMatch(/CapEff:\s+0+\n/);
    expect(agent.stdout).toMatch(/NoNewPrivs:\s+1\n/);
    expect(agent.stdout).not.toMatch(/SOCKET/);
    const root = await bottle.exec(['sh', '-c', 'id -u && touch /home/node/by-root && chown node: /home/node/by-root && stat -c %U /home/node/by-root'], { user: 'root' });
    expect(root).toMatchObject({ exitCode: 0 });
    expect(root.stdout.trim().split('\n')).toEqual(['0', 'node']);
    expect((await bottle.exec(['stat', '-c', '%a', '/tmp', '/var/tmp'])).stdout.trim().split('\n')).toEqual(['1777', '1777']);

    // Labels on the container and the network, which the container is attached to.
    const labels = JSON.parse(inspect(name, '{{json .Config.Labels}}')) as Record<string, string>;
    expect(labels).toMatchObject({ [LABELS.slug]: slug, [LABELS.agent]: 'dockere2e', [LABELS.backend]: 'docker' });
    const netLabels = JSON.parse(docker('network', 'inspect', '--format', '{{json .Labels}}', name)) as Record<string, string>;
    expect(netLabels).toMatchObject({ [LABELS.slug]: slug, [LABELS.agent]: 'dockere2e', [LABELS.backend]: 'docker' });
    expect(Object.keys(JSON.parse(inspect(name, '{{json .NetworkSettings.Networks}}')))).toEqual([name]);

    // Found from the engine's labels.
    const active = await h.backend.listActive();
    expect(active.find((a) => a.slug === slug)).toMatchObject({ agentName: 'dockere2e', backend: 'docker', runtimeName: name });
    const attached = await h.backend.attach(slug);
    expect(attached?.name).toBe(name);
    expect((await attached!.exec(['id', '-un'])).stdout.trim()).toBe('node');

    // stdin, env and workdir reach the command; a failing command is a result, not a throw.
    const piped = await bottle.exec(['sh', '-c', 'cat; echo " $FOO $(pwd)"'], { input: 'hello', env: { FOO: 'bar' }, workdir: '/tmp' });
    expect(piped.stdout.trim()).toBe('hello bar /tmp');
    expect((await bottle.exec(['sh', '-c', 'exit 3'])).exitCode).toBe(3);

    // Detached commands write to their log inside the bottle.
    await bottle.execDetached(['sh', '-c', 'echo detached-out; echo detached-err >&2'], { logPath: '/tmp/e2e.log' });
    let log = '';
    for (let i = 0; i < 50 && !log.includes('detached-err'); i += 1) {
      log = (await bottle.exec(['cat', '/tmp/e2e.log'])).stdout;
      await new Promise((done) => setTimeout(done, 100));
    }
    expect(log).toContain('detached-out');
    expect(log).toContain('detached-err');

    await h.backend.teardown(slug);
    expect(dockerOk('container', 'inspect', name)).toBe(false);
    expect(dockerOk('network', 'inspect', name)).toBe(false);
    await h.backend.teardown(slug); // idempotent
    expect(await h.backend.attach(slug)).toBeUndefined();
  });

  it('a failed build leaves nothing behind and shows the end of the build log', async () => {
    const slug = newSlug();
    const dir = join(h.root, 'broken');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), `FROM ${FIXTURE_IMAGE}\nRUN echo about-to-fail-e2e && exit 7\n`);
    const plan = await h.backend.prepare({ ...spec(slug, { dockerfile: 'broken/Dockerfile' }, 'e2e-broken') });
    const error = await h.backend.launch(plan).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/building bot-bottle-agent-e2e-broken:latest .* failed/);
    expect(error?.message).toMatch(/about-to-fail-e2e/);
    expect(dockerOk('container', 'inspect', `bot-bottle-${slug}`)).toBe(false);
    expect(dockerOk('network', 'inspect', `bot-bottle-${slug}`)).toBe(false);
  });

  it('a missing Dockerfile is a clear error at prepare', async () => {
    await expect(h.backend.prepare(spec(newSlug(), { dockerfile: 'nope/Dockerfile' }))).rejects.toThrow(/does not exist/);
  });

  it('a name clash is a clear error and leaves the existing container alone', async () => {
    const slug = newSlug();
    const name = `bot-bottle-${slug}`;
    const id = docker('create', '--name', name, '--label', 'dev.bot-bottle.test=clash', FIXTURE_IMAGE, 'true');
    try {
      await expect(start(slug)).rejects.toThrow(/already exists/);
      expect(inspect(name, '{{.Id}}')).toBe(id);
      expect(dockerOk('network', 'inspect', name)).toBe(false);
      await h.backend.teardown(slug); // labels say it is not ours: teardown leaves it alone too
      expect(inspect(name, '{{.Id}}')).toBe(id);
    } finally {
      dockerOk('rm', '-f', id);
    }
  });

  it('commits while running, keeps the image config, and refuses stopped or missing bottles', async () => {
    const slug = newSlug();
    const name = `bot-bottle-${slug}`;
    const ref = committedImageFor(slug);
    const bottle = await start(slug);
    await bottle.exec(['sh', '-c', 'echo first > ~/note.txt']);
    const result = await h.freezer.commit(slug);
    expect(result.ref).toBe(ref);
    expect(result.exportHint).toMatch(`docker save ${ref} -o ${slug}.tar`);
    expect(inspect(name, '{{.State.Running}}')).toBe('true');
    expect(await h.store.readCommittedRef(slug)).toBe(ref);
    // No pending tags left, and the snapshot boots like the original image.
    expect(docker('image', 'ls', '--format', '{{.Tag}}', `bot-bottle-committed-${slug}`)).toBe('latest');
    expect(docker('image', 'inspect', '--format', '{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.User}} {{.Config.WorkingDir}}', ref))
      .toBe(docker('image', 'inspect', '--format', '{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.User}} {{.Config.WorkingDir}}', FIXTURE_IMAGE));
    const imageLabels = JSON.parse(docker('image', 'inspect', '--format', '{{json .Config.Labels}}', ref)) as Record<string, string>;
    expect(imageLabels[LABELS.backend] ?? '').toBe('');
    const snapshotId = docker('image', 'inspect', '--format', '{{.Id}}', ref);

    // Stopped: clear error, previous snapshot untouched.
    await bottle.exec(['sh', '-c', 'echo second > ~/note.txt']);
    docker('stop', '-t', '1', name);
    await expect(h.freezer.commit(slug)).rejects.toThrow(/is not running/);
    expect(docker('image', 'inspect', '--format', '{{.Id}}', ref)).toBe(snapshotId);
    expect(await h.store.readCommittedRef(slug)).toBe(ref);

    // Missing: clear error, previous snapshot untouched.
    await h.backend.teardown(slug);
    await expect(h.freezer.commit(slug)).rejects.toThrow(/no container/);
    expect(docker('image', 'inspect', '--format', '{{.Id}}', ref)).toBe(snapshotId);

    // Resume boots from the snapshot and says so.
    h.reporter.clear();
    const resumed = await start(slug);
    expect(h.reporter.infos.join('\n')).toContain(ref);
    expect((await resumed.exec(['cat', '/home/node/note.txt'])).stdout.trim()).toBe('first');
    expect(inspect(name, '{{.Config.Image}}')).toBe(ref);
    await h.backend.teardown(slug);
  });

  it('an interrupted commit keeps the previous snapshot and leaves no pending tag', async () => {
    const slug = newSlug();
    const ref = committedImageFor(slug);
    const bottle = await start(slug);
    await h.freezer.commit(slug);
    const before = docker('image', 'inspect', '--format', '{{.Id}}', ref);
    await bottle.exec(['sh', '-c', 'head -c 200000000 /dev/urandom > ~/big.bin']);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    await expect(h.freezer.commit(slug, { signal: controller.signal })).rejects.toMatchObject({ name: 'CommitAborted' });
    expect(docker('image', 'inspect', '--format', '{{.Id}}', ref)).toBe(before);
    expect(await h.store.readCommittedRef(slug)).toBe(ref);
    expect(docker('image', 'ls', '--format', '{{.Tag}}', `bot-bottle-committed-${slug}`)).toBe('latest');
    expect(docker('inspect', '--format', '{{.State.Status}}', `bot-bottle-${slug}`)).toBe('running');
    await h.backend.teardown(slug);
  });

  it('a resume whose snapshot was pruned warns and starts from the image', async () => {
    const slug = newSlug();
    const ref = committedImageFor(slug);
    const bottle = await start(slug);
    await bottle.exec(['sh', '-c', 'echo kept > ~/note.txt']);
    await h.freezer.commit(slug);
    await h.backend.teardown(slug);
    docker('image', 'rm', '-f', ref);

    h.reporter.clear();
    const resumed = await start(slug);
    expect(h.reporter.warnings).toEqual([expect.objectContaining({ code: 'snapshot-missing' })]);
    expect(h.reporter.warnings[0]?.message).toContain(ref);
    expect(inspect(`bot-bottle-${slug}`, '{{.Config.Image}}')).toBe(FIXTURE_IMAGE);
    expect((await resumed.exec(['test', '-e', '/home/node/note.txt'])).exitCode).toBe(1);
    await h.backend.teardown(slug);
  });

  it('copyCwd copies the working directory into the home, owned by the agent', async () => {
    const slug = newSlug();
    const cwd = join(h.root, 'project');
    await mkdir(join(cwd, 'src'), { recursive: true });
    await writeFile(join(cwd, 'src', 'main.txt'), 'from the host\n');
    await h.store.writeMetadata({ identity: slug, agent: 'dockere2e', backend: 'docker', cwd, startedAt: new Date().toISOString() });
    const base = spec(slug);
    const plan = await h.backend.prepare({ ...base, cwd, agent: { ...base.agent, copyCwd: true } });
    const bottle = await h.backend.launch(plan);
    const out = await bottle.exec(['sh', '-c', 'cat ~/project/src/main.txt; stat -c %U ~/project ~/project/src/main.txt']);
    expect(out.stdout.trim().split('\n')).toEqual(['from the host', 'node', 'node']);
    await h.backend.teardown(slug);
  });
});
