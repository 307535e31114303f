/**
 * Distribution, as a user meets it: every workspace package is published to
 * a throw-away registry (verdaccio on 127.0.0.1, no uplinks), and a brand-new
 * user (fresh HOME, npm prefix and cache) installs the CLI globally, then
 * only the backend this host runs, through `bot-bottle plugins install`.
 *
 * Engine-free parts (install, discovery, dependency tree, uninstall,
 * contract refusal) always run; the bottle lifecycle through the installed
 * copy needs Docker and the fixture image.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, lstat, mkdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithoutDocker } from '../lib/engine-gate.js';
import { createUserEnv, installedPackages, type UserEnv } from './user-env.js';
import { machineRegistry, REPO_ROOT, startRegistry, type LocalRegistry } from './verdaccio.js';
import { publishWorkspace, workspacePackages, type WorkspacePackage } from './workspace.js';

const FIXTURE_IMAGE = 'bot-bottle-fixture-agent:latest';
const DOCKER_PACKAGE = '@bot-bottle/backend-docker';
const INCOMPATIBLE_PACKAGE = '@bot-bottle/backend-incompatible';
const INSTALL_DOCKER = `bot-bottle plugins install ${DOCKER_PACKAGE}`;

interface BackendsJson {
  contractVersion: string;
  suggestion?: string;
  backends: {
    name: string;
    package: string;
    version: string;
    source: string;
    contract: string;
    compatible: boolean;
    available: boolean;
    reason?: string;
    fix?: string;
  }[];
}

const noDocker = skipWithoutDocker();

function hasFixtureImage(): boolean {
  if (noDocker) return false;
  try {
    execFileSync('docker', ['image', 'inspect', FIXTURE_IMAGE], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

function quietly(command: string, args: string[]): void {
  try {
    execFileSync(command, args, { stdio: 'pipe', timeout: 60_000 });
  } catch {
    // already gone
  }
}

describe.sequential('distribution: install from a registry, one backend per host', () => {
  let registry: LocalRegistry | undefined;
  let user: UserEnv;
  let packages: WorkspacePackage[];
  let project: string;
  const slugs: string[] = [];

  beforeAll(async () => {
    registry = await startRegistry();
    await publishWorkspace(registry);
    await registry.publish(join(import.meta.dirname, 'fixtures/backend-incompatible'));
    packages = await workspacePackages();
    user = await createUserEnv(registry, await machineRegistry());
    project = join(user.root, 'project');
    await mkdir(project, { recursive: true });
    await copyFile(join(REPO_ROOT, 'test-fixtures/demo/bot-bottle.json'), join(project, 'bot-bottle.json'));
  });

  afterAll(async () => {
    for (const slug of slugs) {
      if (user) await user.cli(['cleanup', slug], { cwd: project, timeoutMs: 120_000 }).catch(() => undefined);
      quietly('docker', ['rm', '-f', `bot-bottle-${slug}`]);
      quietly('docker', ['network', 'rm', `bot-bottle-${slug}`]);
      quietly('docker', ['image', 'rm', '-f', `bot-bottle-committed-${slug}:latest`]);
    }
    await user?.remove();
    await registry?.stop();
  });

  async function backends(): Promise<BackendsJson> {
    const result = await user.cli(['backends', '--json'], { cwd: project });
    expect(result.exitCode, `bot-bottle backends --json\n${result.stderr}`).toBe(0);
    return JSON.parse(result.stdout) as BackendsJson;
  }

  it('every workspace package declares what a registry install needs', () => {
    expect(packages.map((p) => p.name)).toEqual(
      expect.arrayContaining(['@bot-bottle/core', '@bot-bottle/cli', DOCKER_PACKAGE, '@bot-bottle/backend-macos-container', '@bot-bottle/backend-smolmachines']),
    );
    for (const pkg of packages) {
      const botBottle = pkg.pjson.botBottle as { backend?: string; contract?: string; entry?: string } | undefined;
      if (!botBottle) continue;
      const peers = (pkg.pjson.peerDependencies ?? {}) as Record<string, string>;
      expect(peers['@bot-bottle/core'], `${pkg.name} peerDependencies on @bot-bottle/core`).toBeTruthy();
      expect(pkg.pjson.oclif, `${pkg.name} is an oclif plugin`).toBeTypeOf('object');
      expect(botBottle.entry).toMatch(/^\.\/dist\//);
    }
  });

  it('npm install -g @bot-bottle/cli: no backend yet, and it says which one this host needs', async () => {
    const installed = await user.npm(['install', '-g', '@bot-bottle/cli']);
    expect(installed.exitCode, installed.all).toBe(0);
    // The global copy is a real install from the registry, not a workspace link.
    expect((await lstat(user.cliDir)).isSymbolicLink()).toBe(false);
    expect(await realpath(user.cliDir)).toContain(user.root);
    expect(await stat(join(user.cliDir, 'oclif.manifest.json'))).toBeTruthy();

    const text = await user.cli(['backends'], { cwd: project });
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toContain(`no compatible backend is installed; for this host: ${INSTALL_DOCKER}`);

    const json = await backends();
    expect(json.backends).toEqual([]);
    expect(json.suggestion).toBe(INSTALL_DOCKER);

    // A command that needs a backend says the same.
    const start = await user.cli(['start', 'demo', '--detach'], { cwd: project });
    expect(start.exitCode).not.toBe(0);
    expect(start.stderr).toContain(DOCKER_PACKAGE);
  });

  it('npm init @bot-bottle/backend scaffolds a backend that typechecks against the published core', async () => {
    const made = await user.npm(['init', '@bot-bottle/backend', 'bot-bottle-backend-acme', '--yes'], { cwd: user.root });
    expect(made.exitCode, made.all).toBe(0);
    const dir = join(user.root, 'bot-bottle-backend-acme');
    const pjson = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
      name: string;
      botBottle: { backend: string; contract: string };
      peerDependencies: Record<string, string>;
    };
    expect(pjson.name).toBe('bot-bottle-backend-acme');
    expect(pjson.botBottle).toMatchObject({ backend: 'acme', contract: '^1.0.0' });
    const core = packages.find((p) => p.name === '@bot-bottle/core')!;
    expect(pjson.peerDependencies['@bot-bottle/core']).toBe(`^${core.version.split('.').slice(0, 2).join('.')}.0`);
    const installed = await user.npm(['install'], { cwd: dir });
    expect(installed.exitCode, installed.all).toBe(0);
    expect((await lstat(join(dir, 'node_modules/@bot-bottle/core'))).isSymbolicLink()).toBe(false);
    const typecheck = await user.npm(['run', 'typecheck'], { cwd: dir });
    expect(typecheck.exitCode, typecheck.all).toBe(0);
  });

  it(`bot-bottle plugins install ${DOCKER_PACKAGE}: installed, contract-compatible, available`, async () => {
    const result = await user.cli(['plugins', 'install', DOCKER_PACKAGE], { cwd: project });
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    const pluginDir = join(user.dataDir, 'node_modules', DOCKER_PACKAGE);
    expect((await lstat(pluginDir)).isSymbolicLink(), 'the plugin is a real install, not a link').toBe(false);

    const json = await backends();
    expect(json.backends).toHaveLength(1);
    const [docker] = json.backends;
    expect(docker).toMatchObject({ name: 'docker', package: DOCKER_PACKAGE, source: 'user', compatible: true, contract: '^1.0.0' });
    if (!noDocker) expect(docker, docker?.reason).toMatchObject({ available: true });
    expect(json.suggestion).toBeUndefined();
  });

  it('installing the docker backend pulls in none of the other backends or their own dependencies', async () => {
    const tree = await installedPackages(user.dataDir);
    const names = new Set(tree.map((p) => p.name));
    // Dependencies only another backend declares (not docker, not core) must be absent.
    const declared = (pkg: WorkspacePackage | undefined): string[] =>
      Object.keys({ ...((pkg?.pjson.dependencies ?? {}) as object), ...((pkg?.pjson.peerDependencies ?? {}) as object) });
    const byName = new Map(packages.map((p) => [p.name, p]));
    const wanted = new Set([...declared(byName.get(DOCKER_PACKAGE)), ...declared(byName.get('@bot-bottle/core'))]);

    // Of our packages: the docker backend and exactly what it declares (core, the egress proxy), no other backend.
    const ours = [...names].filter((name) => name.startsWith('@bot-bottle/')).sort();
    const expected = [DOCKER_PACKAGE, ...[...wanted].filter((name) => name.startsWith('@bot-bottle/'))];
    expect(ours).toEqual([...new Set(expected)].sort());
    expect(ours.filter((name) => name.startsWith('@bot-bottle/backend-'))).toEqual([DOCKER_PACKAGE]);
    for (const other of packages.filter((p) => p.pjson.botBottle && p.name !== DOCKER_PACKAGE)) {
      for (const dep of declared(other)) {
        if (wanted.has(dep)) continue;
        expect(names.has(dep), `${dep} (a dependency of ${other.name} only) is in the docker plugin's install tree`).toBe(false);
      }
    }
    // And the global CLI install carries no backend either.
    const cliTree = await installedPackages(user.cliDir);
    expect(cliTree.filter((p) => p.name.startsWith('@bot-bottle/backend-'))).toEqual([]);
  });

  it.skipIf(!hasFixtureImage())('start, commit, cleanup and resume work through the installed copy', async () => {
    const started = await user.cli(['start', 'demo', '--detach', '--json'], { cwd: project });
    expect(started.exitCode, started.stderr).toBe(0);
    const { slug, backend } = JSON.parse(started.stdout) as { slug: string; backend: string };
    slugs.push(slug);
    expect(backend).toBe('docker');

    const wrote = await user.cli(['exec', slug, '--', 'sh', '-c', 'echo from-the-registry > ~/dist.txt'], { cwd: project });
    expect(wrote.exitCode, wrote.stderr).toBe(0);

    const committed = await user.cli(['commit', slug, '--json'], { cwd: project });
    expect(committed.exitCode, committed.stderr).toBe(0);
    expect(JSON.parse(committed.stdout)).toMatchObject({ slug, ref: `bot-bottle-committed-${slug}:latest` });

    const cleaned = await user.cli(['cleanup', slug], { cwd: project });
    expect(cleaned.exitCode, cleaned.stderr).toBe(0);
    const active = await user.cli(['list', 'active', '--json'], { cwd: project });
    expect(active.exitCode, active.stderr).toBe(0);
    expect(active.stdout).not.toContain(slug);

    const resumed = await user.cli(['resume', slug, '--detach'], { cwd: project });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`bot-bottle-committed-${slug}:latest`);
    const read = await user.cli(['exec', slug, '--', 'cat', '/home/node/dist.txt'], { cwd: project });
    expect(read.exitCode, read.stderr).toBe(0);
    expect(read.stdout.trim()).toBe('from-the-registry');

    const done = await user.cli(['cleanup', slug], { cwd: project });
    expect(done.exitCode, done.stderr).toBe(0);
  });

  it.skipIf(noDocker)("a backend's errors reach the user as errors with their hint, although the plugin carries its own copy of core", async () => {
    // `plugins install` puts the backend's peer @bot-bottle/core next to it: a
    // second copy beside the CLI's own, so the CLI must not rely on instanceof.
    const copies = (await installedPackages(user.dataDir)).filter((p) => p.name === '@bot-bottle/core');
    expect(copies.length).toBeGreaterThan(0);
    const dir = join(user.root, 'missing-image-project');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'bot-bottle.json'),
      JSON.stringify({
        bottles: { b: { backend: 'docker', image: 'bot-bottle-no-such-image:latest' } },
        agents: { a: { bottle: 'b', template: 'shell', command: 'true' } },
      }),
    );
    const start = await user.cli(['start', 'a', '--detach'], { cwd: dir });
    expect(start.exitCode).not.toBe(0);
    expect(start.stderr).toContain('bot-bottle-no-such-image:latest');
    expect(start.stderr, 'the backend hint is shown, not the "bug" fallback').toContain('bot-bottle never pulls');
    expect(start.stderr).not.toMatch(/looks like a bug/);
  });

  it('a backend built for another contract is refused from its package.json, naming both versions; docker keeps working', async () => {
    const installed = await user.cli(['plugins', 'install', INCOMPATIBLE_PACKAGE], { cwd: project });
    expect(installed.exitCode, `${installed.stdout}\n${installed.stderr}`).toBe(0);

    const json = await backends();
    const refused = json.backends.find((b) => b.name === 'incompatible');
    expect(refused).toMatchObject({ package: INCOMPATIBLE_PACKAGE, compatible: false, available: false, contract: '^99.0.0' });
    expect(refused?.reason).toContain('^99.0.0');
    expect(refused?.reason).toContain(json.contractVersion);
    expect(refused?.fix).toBeTruthy();
    const docker = json.backends.find((b) => b.name === 'docker');
    expect(docker).toMatchObject({ compatible: true });
    if (!noDocker) expect(docker, docker?.reason).toMatchObject({ available: true });

    const text = await user.cli(['backends'], { cwd: project });
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/incompatible: .*\^99\.0\.0.*1\.0\.0/);

    // Asking for it by name is one clear error with both versions, and its module is never imported.
    await mkdir(join(user.root, 'incompatible-project'), { recursive: true });
    const manifest = join(user.root, 'incompatible-project', 'bot-bottle.json');
    await writeFile(
      manifest,
      JSON.stringify({
        bottles: { b: { backend: 'incompatible', image: FIXTURE_IMAGE } },
        agents: { a: { bottle: 'b', template: 'shell', command: 'true' } },
      }),
    );
    const start = await user.cli(['start', 'a', '--detach'], { cwd: join(user.root, 'incompatible-project') });
    expect(start.exitCode).not.toBe(0);
    expect(start.stderr).toContain('^99.0.0');
    expect(start.stderr).toContain(json.contractVersion);
    await expect(stat(join(user.stateHome, 'INCOMPATIBLE-BACKEND-WAS-IMPORTED'))).rejects.toThrow();

    if (hasFixtureImage()) {
      const started = await user.cli(['start', 'demo', '--detach', '--json'], { cwd: project });
      expect(started.exitCode, started.stderr).toBe(0);
      const { slug } = JSON.parse(started.stdout) as { slug: string };
      slugs.push(slug);
      const ran = await user.cli(['exec', slug, '--', 'true'], { cwd: project });
      expect(ran.exitCode, ran.stderr).toBe(0);
      const done = await user.cli(['cleanup', slug], { cwd: project });
      expect(done.exitCode, done.stderr).toBe(0);
    }
  });

  it('plugins uninstall leaves the CLI working and saying again what to install', async () => {
    for (const name of [INCOMPATIBLE_PACKAGE, DOCKER_PACKAGE]) {
      const removed = await user.cli(['plugins', 'uninstall', name], { cwd: project });
      expect(removed.exitCode, `${removed.stdout}\n${removed.stderr}`).toBe(0);
    }
    const json = await backends();
    expect(json.backends).toEqual([]);
    expect(json.suggestion).toBe(INSTALL_DOCKER);
    const text = await user.cli(['backends'], { cwd: project });
    expect(text.stdout).toContain(INSTALL_DOCKER);
    const list = await user.cli(['list', '--json'], { cwd: project });
    expect(list.exitCode, list.stderr).toBe(0);
    const help = await user.cli(['--help'], { cwd: project });
    expect(help.exitCode, help.stderr).toBe(0);
  });
});
