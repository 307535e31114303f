/**
 * What the contract suite does not check, through the backend over the
 * smolvm EMULATOR: owners survive a commit under both packer behaviours,
 * and each quirk the original implementation learned is handled.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingReporter, StateStore, type BackendContext, type BottleSpec } from '@bot-bottle/core';
import { SmolmachinesBackend } from '../src/index.js';
import { SmolmachinesFreezer } from '../src/freezer.js';
import { SmolvmCli, spawnRunner, SmolvmError, type SmolvmRunner } from '../src/smolvm.js';
import { skipWithoutDocker } from '../../../test-fixtures/lib/engine-gate.js';
import { emulatorEnv, FIXTURE_IMAGE, PACKER_MODES, type PackerMode } from './emulator.js';

const skip = skipWithoutDocker();

interface Rig {
  home: string;
  env: Record<string, string | undefined>;
  store: StateStore;
  reporter: RecordingReporter;
  calls: string[][];
  /** `skopeo inspect` (and `--config`) of every image handed to `pack create --image`, taken while it is served. */
  inspected: { ref: string; inspect: Record<string, unknown>; config: { config?: Record<string, unknown> } }[];
  cli: SmolvmCli;
  backend: SmolmachinesBackend;
  freezer: SmolmachinesFreezer;
  slugs: string[];
}

/** A backend whose smolvm calls are all recorded. */
async function rig(mode: PackerMode, extra: Record<string, string> = {}): Promise<Rig> {
  const home = await mkdtemp(join(tmpdir(), 'bb-smol-quirks-'));
  const env = { ...process.env, ...emulatorEnv(mode, extra), BOT_BOTTLE_HOME: home };
  const store = new StateStore(home);
  const reporter = new RecordingReporter();
  const calls: string[][] = [];
  const inspected: Rig['inspected'] = [];
  const real = spawnRunner(env);
  const runner: SmolvmRunner = async (argv, options) => {
    calls.push([...argv]);
    const at = argv.indexOf('--image');
    if (argv[1] === 'pack' && at > 0 && argv[at + 1]) {
      const ref = argv[at + 1]!;
      const inspect = JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`])).stdout) as Record<string, unknown>;
      const config = JSON.parse((await run('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://${ref}`])).stdout) as { config?: Record<string, unknown> };
      inspected.push({ ref, inspect, config });
    }
    return real(argv, options);
  };
  const cli = new SmolvmCli(env, runner);
  const context: BackendContext = { store, reporter, env };
  return { home, env, store, reporter, calls, inspected, cli, backend: new SmolmachinesBackend(context, cli), freezer: new SmolmachinesFreezer(context, cli), slugs: [] };
}

async function start(r: Rig, tag: string) {
  const slug = `quirk-${tag}-${randomBytes(3).toString('hex')}`.slice(0, 40);
  r.slugs.push(slug);
  await r.store.writeMetadata({ identity: slug, agent: 'quirk', backend: 'smolmachines', cwd: r.home, startedAt: new Date().toISOString() });
  const spec: BottleSpec = {
    slug,
    agentName: 'quirk',
    agent: { bottle: 'b', template: 'shell', command: ['sleep', 'infinity'], prompt: '', skills: [], env: {}, copyCwd: false },
    bottleName: 'b',
    bottle: { backend: 'smolmachines', image: FIXTURE_IMAGE },
    manifestDir: r.home,
    cwd: r.home,
  };
  const bottle = await r.backend.launch(await r.backend.prepare(spec));
  return { slug, spec, bottle };
}

async function dispose(r: Rig): Promise<void> {
  for (const slug of r.slugs) await r.backend.teardown(slug).catch(() => undefined);
  await rm(r.home, { recursive: true, force: true });
  if (r.env.SMOLVM_EMULATOR_HOME) await rm(r.env.SMOLVM_EMULATOR_HOME, { recursive: true, force: true });
}

const run = promisify(execFile);

const joined = (argv: readonly string[]): string => argv.join(' ');

for (const mode of PACKER_MODES) {
  describe.skipIf(skip).sequential(`smolmachines over the smolvm emulator: owners with an owner-${mode} packer`, () => {
    let r: Rig;
    beforeAll(async () => {
      r = await rig(mode);
    });
    afterAll(async () => dispose(r));

    it('a resumed bottle has every committed file with its original owner and a clean 1777 /tmp', async () => {
      const { slug, spec, bottle } = await start(r, 'own');
      const setup = await bottle.exec(
        ['sh', '-c', [
          'mkdir -p /opt/owned /home/node/work',
          'echo a > /opt/owned/by-4242 && chown 4242:4243 /opt/owned/by-4242',
          'echo b > /home/node/work/root-owned && chown 0:0 /home/node/work/root-owned',
          'echo c > /home/node/work/agent-file && chown 1000:1000 /home/node/work/agent-file',
          'touch /tmp/stale /var/tmp/stale',
        ].join(' && ')],
        { user: 'root' },
      );
      expect(setup.exitCode, setup.stderr).toBe(0);
      const ref = (await r.freezer.commit(slug)).ref;
      await r.backend.teardown(slug);
      r.reporter.clear();
      const resumed = await r.backend.launch(await r.backend.prepare(spec));
      expect(r.reporter.infos.some((m) => m.includes(ref))).toBe(true);
      const stat = await resumed.exec(
        ['stat', '-c', '%u:%g %a %n', '/opt/owned/by-4242', '/home/node/work/root-owned', '/home/node/work/agent-file', '/home/node', '/etc/passwd', '/usr/bin/su', '/tmp', '/var/tmp'],
        { user: 'root' },
      );
      expect(stat.exitCode, stat.stderr).toBe(0);
      expect(stat.stdout.trim().split('\n')).toEqual([
        '4242:4243 644 /opt/owned/by-4242',
        '0:0 644 /home/node/work/root-owned',
        '1000:1000 644 /home/node/work/agent-file',
        '1000:1000 755 /home/node',
        '0:0 644 /etc/passwd',
        '0:0 4755 /usr/bin/su',
        '0:0 1777 /tmp',
        '0:0 1777 /var/tmp',
      ]);
      const leftovers = await resumed.exec(['sh', '-c', 'ls -A /tmp /var/tmp'], { user: 'root' });
      expect(leftovers.stdout).not.toMatch(/stale|bot-bottle-commit/);
      const agent = await resumed.exec(['sh', '-c', 'id -u && touch /tmp/mine ~/work/mine && echo ok']);
      expect(agent.stdout).toBe('1000\nok\n');
    });
  });
}

describe.skipIf(skip).sequential('smolmachines over the smolvm emulator: quirks', () => {
  it('waits for the exec channel by polling and retries an early exec killed with 137 once', async () => {
    const r = await rig('remapping', {
      SMOLVM_EMULATOR_EXEC_WARMUP_MS: '2500',
      SMOLVM_EMULATOR_KILL_FIRST_EXEC: '1',
      SMOLVM_EMULATOR_KILL_EXEC_MATCH: 'mkdir -p /tmp /var/tmp',
    });
    try {
      const { bottle } = await start(r, 'warm');
      const probes = r.calls.filter((c) => joined(c).endsWith('machine exec --name ' + bottle.name + ' -- true'));
      expect(probes.length).toBeGreaterThan(1);
      const inits = r.calls.filter((c) => joined(c).includes('mkdir -p /tmp /var/tmp'));
      expect(inits).toHaveLength(2);
      expect((await bottle.exec(['id', '-u'])).stdout).toBe('1000\n');
    } finally {
      await dispose(r);
    }
  });

  it('sends --net with allowed CIDRs so a machine booted --from a .smolmachine has a network', async () => {
    const r = await rig('remapping', { BOT_BOTTLE_SMOLMACHINES_ALLOW_CIDRS: '10.0.0.0/8' });
    try {
      const { bottle } = await start(r, 'net');
      const create = r.calls.find((c) => c.includes('create') && c.includes('--from'));
      expect(create).toBeDefined();
      expect(create).toContain('--net');
      expect(create!.slice(create!.indexOf('--allow-cidr'), create!.indexOf('--allow-cidr') + 2)).toEqual(['--allow-cidr', '10.0.0.0/8']);
      const listed = (await r.cli.machineList()).find((m) => m.name === bottle.name);
      expect(listed?.raw.network).toBe(true);
    } finally {
      await dispose(r);
    }
  });

  it('commits through a file inside the VM and machine cp, never tar on stdout, and never stops the VM', async () => {
    const r = await rig('remapping');
    try {
      const { slug, bottle } = await start(r, 'cp');
      // More than the 64 KiB of binary output the exec channel carries.
      await bottle.exec(['sh', '-c', 'head -c 3000000 /dev/urandom > ~/random.bin']);
      const sum = (await bottle.exec(['sha256sum', '/home/node/random.bin'])).stdout.split(' ')[0];
      const before = r.calls.length;
      r.inspected.length = 0;
      await r.freezer.commit(slug);
      const during = r.calls.slice(before);
      // The image pack reads is a valid OCI image on a 127.0.0.1 endpoint, with the original config.
      expect(r.inspected).toHaveLength(1);
      const served = r.inspected[0]!;
      expect(served.ref).toMatch(/^127\.0\.0\.1:\d+\/bot-bottle\/committed-/);
      expect(served.inspect.Os).toBe('linux');
      expect(served.inspect.Layers).toHaveLength(1);
      expect(served.config.config).toMatchObject({ User: 'node', WorkingDir: '/home/node', Cmd: ['fixture-agent'] });
      expect(during.some((c) => joined(c).includes('machine stop') || joined(c).includes('--from-vm'))).toBe(false);
      const tar = during.find((c) => joined(c).includes('tar --create'));
      expect(joined(tar ?? [])).toMatch(/--gzip/);
      expect(joined(tar ?? [])).toMatch(/--file='\/var\/tmp\/\.bot-bottle-commit-[0-9a-f]+\.tar\.gz'/);
      expect(joined(tar ?? [])).not.toMatch(/--file=-/);
      const cp = during.find((c) => c.includes('cp') && c.some((a) => a.startsWith(`${bottle.name}:/var/tmp/.bot-bottle-commit-`)));
      expect(cp).toBeDefined();
      expect(during.some((c) => joined(c).includes('rm -f /var/tmp/.bot-bottle-commit-'))).toBe(true);
      expect((await r.cli.machineList()).find((m) => m.name === bottle.name)?.state).toBe('running');
      const left = await bottle.exec(['sh', '-c', 'ls -A /var/tmp'], { user: 'root' });
      expect(left.stdout).not.toContain('.bot-bottle-commit-');

      await r.backend.teardown(slug);
      const resumed = await r.backend.launch(await r.backend.prepare({ ...(await specFor(r, slug)) }));
      expect((await resumed.exec(['sha256sum', '/home/node/random.bin'])).stdout.split(' ')[0]).toBe(sum);
    } finally {
      await dispose(r);
    }
  });

  it('pack create --from-vm refuses a running VM (why commits tar the running VM instead)', async () => {
    const r = await rig('remapping');
    try {
      const { bottle } = await start(r, 'fromvm');
      const out = join(r.home, 'from-vm');
      const error = await r.cli.packCreateFromVm(bottle.name, out).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SmolvmError);
      expect((error as SmolvmError).stderr).toMatch(/is running/);
      expect((await bottle.exec(['true'])).exitCode).toBe(0);
    } finally {
      await dispose(r);
    }
  });
});

async function specFor(r: Rig, slug: string): Promise<BottleSpec> {
  return {
    slug,
    agentName: 'quirk',
    agent: { bottle: 'b', template: 'shell', command: ['sleep', 'infinity'], prompt: '', skills: [], env: {}, copyCwd: false },
    bottleName: 'b',
    bottle: { backend: 'smolmachines', image: FIXTURE_IMAGE },
    manifestDir: r.home,
    cwd: r.home,
  };
}
