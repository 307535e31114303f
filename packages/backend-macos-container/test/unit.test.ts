/** Unit tests: argv shapes, the snapshot Dockerfile, builder-DNS staleness and availability off macOS. */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSlug, RecordingReporter, runtimeNameFor, StateStore, type BackendContext } from '@bot-bottle/core';
import plugin, { containerAvailability, ContainerCli, snapshotDockerfile, staleBuilderDns, tarArgs } from '../src/index.js';
import { parseImageConfig } from '../src/runtime.js';
import { runArgs } from '../src/launch.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bb-macos-unit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function contextWith(env: Record<string, string | undefined>): BackendContext {
  return { store: new StateStore(join(dir, 'home')), reporter: new RecordingReporter(), env };
}

describe('availability without the emulator setting', () => {
  it('is unavailable off macOS, with a reason and a fix', async () => {
    const cli = new ContainerCli({ PATH: '/usr/bin:/bin' });
    const result = await containerAvailability(cli, { PATH: '/usr/bin:/bin' }, { platform: 'linux', arch: 'x64' });
    expect(result.available).toBe(false);
    expect(result.reason).toMatch(/macOS/);
    expect(result.reason).toMatch(/linux/);
    expect(result.fix).toMatch(/docker/);
  });

  it('is unavailable on this (non-macOS) host through the plugin', async () => {
    if (process.platform === 'darwin') return;
    const backend = plugin.createBackend(contextWith({ PATH: process.env.PATH }));
    const result = await backend.availability();
    expect(result.available).toBe(false);
    expect(result.reason).toMatch(/macOS/);
  });

  it('is unavailable on an Intel Mac', async () => {
    const cli = new ContainerCli({});
    const result = await containerAvailability(cli, {}, { platform: 'darwin', arch: 'x64' });
    expect(result.available).toBe(false);
    expect(result.reason).toMatch(/Apple silicon/);
  });

  it('is unavailable on Apple silicon without `container` on PATH, and says how to install it', async () => {
    const cli = new ContainerCli({ PATH: dir });
    const result = await containerAvailability(cli, { PATH: dir }, { platform: 'darwin', arch: 'arm64' });
    expect(result).toMatchObject({ available: false, reason: expect.stringMatching(/not on PATH/) });
    expect(result.fix).toMatch(/github.com\/apple\/container/);
  });

  it('reports `container system status` failures on a Mac with the start fix', async () => {
    const fake = join(dir, 'container');
    await writeFile(fake, '#!/bin/sh\necho "apiserver is not running"; exit 1\n');
    await chmod(fake, 0o755);
    const cli = new ContainerCli({ PATH: dir });
    const result = await containerAvailability(cli, { PATH: dir }, { platform: 'darwin', arch: 'arm64' });
    // On Linux the spawned `container` is the fake above, found through the given PATH.
    if (process.platform !== 'darwin') {
      expect(result.available).toBe(false);
      expect(result.fix).toMatch(/container system start/);
    }
  });

  it('with the emulator setting, a relative or missing path is unavailable (and names the setting)', async () => {
    const env = { BOT_BOTTLE_CONTAINER_EMULATOR: 'bin/container' };
    const result = await containerAvailability(new ContainerCli(env), env, { platform: 'linux', arch: 'x64' });
    expect(result.available).toBe(false);
    expect(result.reason).toMatch(/BOT_BOTTLE_CONTAINER_EMULATOR/);
  });
});

describe('argv shapes', () => {
  it('streams the root filesystem with exec --user root ... tar --create --file=- --directory=/ .', () => {
    const argv = tarArgs('bot-bottle-x-abc12');
    expect(argv.slice(0, 5)).toEqual(['exec', '--user', 'root', 'bot-bottle-x-abc12', 'tar']);
    expect(argv).toContain('--create');
    expect(argv).toContain('--file=-');
    expect(argv).toContain('--directory=/');
    expect(argv).toContain('--exclude=./proc/*');
    expect(argv.at(-1)).toBe('.');
  });

  it('runs the idle bottle detached, on its network, without --rm', () => {
    const plan = {
      spec: {} as never,
      backend: 'macos-container',
      runtimeName: 'bot-bottle-x-abc12',
      source: { kind: 'image', ref: 'img:1' } as const,
      user: 'node',
      home: '/home/node',
      memory: '4g',
      cpus: 2,
      networkName: 'bot-bottle-x-abc12',
      labels: { 'dev.bot-bottle.slug': 'x-abc12' },
    };
    const argv = runArgs(plan, { ref: 'img:1', hasEntrypoint: false }, 'node', '/home/node');
    expect(argv.slice(0, 6)).toEqual(['run', '--name', 'bot-bottle-x-abc12', '--detach', '--network', 'bot-bottle-x-abc12']);
    expect(argv).not.toContain('--rm');
    expect(argv.slice(-3)).toEqual(['img:1', 'sleep', 'infinity']);
    const withEntrypoint = runArgs(plan, { ref: 'img:1', hasEntrypoint: true }, 'node', '/home/node');
    expect(withEntrypoint.slice(-4)).toEqual(['--entrypoint', 'sleep', 'img:1', 'infinity']);
  });
});

describe('snapshot Dockerfile', () => {
  it('carries the original image config instead of hard-coding a user', () => {
    const text = snapshotDockerfile({
      digest: 'sha256:x',
      user: 'agent:agent',
      workingDir: '/work dir',
      env: ['PATH=/usr/bin:/bin', 'PRICE=$5', 'EMPTY='],
      entrypoint: ['/entry.sh'],
      cmd: ['run', 'it'],
    });
    expect(text.split('\n')).toEqual([
      'FROM scratch',
      'ADD rootfs.tar /',
      'ENV PATH="/usr/bin:/bin" \\',
      '    PRICE="\\$5" \\',
      '    EMPTY=""',
      'WORKDIR "/work dir"',
      'USER agent:agent',
      'ENTRYPOINT ["/entry.sh"]',
      'CMD ["run","it"]',
      '',
    ]);
    expect(snapshotDockerfile({ digest: '', user: '', workingDir: '', env: [], entrypoint: null, cmd: null })).toBe(
      'FROM scratch\nADD rootfs.tar /\n',
    );
  });

  it('reads the config out of `container image inspect` JSON', () => {
    const json = JSON.stringify([
      { name: 'x', index: { digest: 'sha256:abc' }, variants: [{ config: { config: { User: 'node', Cmd: ['bash'], Env: ['A=1'] } } }] },
    ]);
    expect(parseImageConfig(json, 'x')).toEqual({ digest: 'sha256:abc', user: 'node', workingDir: '', env: ['A=1'], entrypoint: null, cmd: ['bash'] });
  });
});

describe('builder DNS', () => {
  const status = (nameservers: string[], gateway: string, state = 'running') =>
    JSON.stringify([{ status: state, configuration: { dns: { nameservers } }, networks: [{ gateway }] }]);
  it('is stale when the builder resolves through an address that is not its gateway', () => {
    expect(staleBuilderDns(status(['192.168.65.1'], '192.168.64.1'))).toEqual({ nameservers: ['192.168.65.1'], gateway: '192.168.64.1' });
  });
  it('is fine when they match, when the builder is not running, or when the output is unreadable', () => {
    expect(staleBuilderDns(status(['192.168.64.1'], '192.168.64.1'))).toBeUndefined();
    expect(staleBuilderDns(status(['10.0.0.1'], '192.168.64.1', 'stopped'))).toBeUndefined();
    expect(staleBuilderDns('[]')).toBeUndefined();
    expect(staleBuilderDns('builder is not running')).toBeUndefined();
  });
});

describe('commit checks the container while the filesystem already streams', () => {
  // A fake `container`: `list` reports a running container that is not a bot-bottle
  // bottle (or none), `exec` notes that it ran and streams until it is stopped.
  async function fakeCli(listJson: string): Promise<{ bin: string; marker: string }> {
    const bin = join(dir, `fake-${Math.random().toString(36).slice(2)}`);
    await mkdir(bin);
    const marker = join(bin, 'exec-started');
    await writeFile(
      join(bin, 'container'),
      `#!/bin/sh\ncase "$1" in\n  list) sleep 0.3; echo '${listJson}' ;;\n  exec) : > '${marker}'; exec yes ;;\n  *) exit 0 ;;\nesac\n`,
    );
    await chmod(join(bin, 'container'), 0o755);
    return { bin, marker };
  }

  async function commitWith(listJson: (name: string) => string) {
    const slug = generateSlug('unit');
    const name = runtimeNameFor(slug);
    const fake = await fakeCli(listJson(name));
    const home = join(dir, `home-${slug}`);
    const reporter = new RecordingReporter();
    const context: BackendContext = { store: new StateStore(home), reporter, env: { PATH: `${fake.bin}:${process.env.PATH}` } };
    await context.store.writeMetadata({ identity: slug, agent: 'unit', backend: 'macos-container', cwd: dir, startedAt: new Date().toISOString() });
    const outcome = await plugin.createFreezer(context).commit(slug).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    const temps = await readdir(context.store.tempRoot).catch(() => []);
    return { outcome, reporter, temps, execStarted: await readFile(fake.marker).then(() => true, () => false), store: context.store, slug };
  }

  it('a failed check stops the stream and is the error, with nothing reported and no temp files', async () => {
    const result = await commitWith(
      (name) => `[{"status":"running","configuration":{"id":"${name}","image":{"reference":"x:1"},"labels":{}}}]`,
    );
    expect(result.execStarted).toBe(true);
    expect(result.outcome?.message).toMatch(/is not a bot-bottle macos-container bottle for .*; refusing to commit it/);
    expect(result.reporter.progressLabels).toEqual([]);
    expect(result.temps).toEqual([]);
    expect(await result.store.readCommittedRef(result.slug)).toBeUndefined();
  });

  it('a missing container is the clear error, not the exec failure', async () => {
    const result = await commitWith(() => '[]');
    expect(result.outcome?.message).toMatch(/has no running container .*nothing to commit/);
    expect(result.reporter.progressLabels).toEqual([]);
    expect(result.temps).toEqual([]);
  });
});
