/**
 * Tests of the container EMULATOR itself (Apple's `container` CLI emulated on
 * the Docker engine): the argument shapes bot-bottle uses and the quirks of
 * the real tool it must reproduce.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithoutDocker } from '../lib/engine-gate.js';

const BIN = fileURLToPath(new URL('./bin/container', import.meta.url));
const FIXTURE = 'bot-bottle-fixture-agent:latest';
const id = randomBytes(3).toString('hex');
const stateDir = mkdtempSync(join(tmpdir(), 'container-emulator-test-'));

interface Result {
  status: number;
  stdout: string;
  stderr: string;
}

/** Run the emulator without blocking the test worker (a busy shared engine can be slow). */
function container(
  args: string[],
  options: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env: { ...process.env, CONTAINER_EMULATOR_STATE_DIR: stateDir, ...options.env } });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 240_000);
    child.once('close', () => clearTimeout(timer));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

async function ok(args: string[], options?: { input?: string; env?: Record<string, string> }): Promise<string> {
  const r = await container(args, options);
  if (r.status !== 0) throw new Error(`container ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function dockerExists(kind: 'container' | 'image' | 'network', name: string): boolean {
  return spawnSync('docker', [kind, 'inspect', name], { stdio: 'ignore' }).status === 0;
}

const created = { containers: new Set<string>(), images: new Set<string>(), networks: new Set<string>() };

describe.skipIf(skipWithoutDocker())('container EMULATOR (Apple container CLI on Docker)', () => {
  beforeAll(() => {
    expect(dockerExists('image', FIXTURE)).toBe(true);
  });

  afterAll(async () => {
    // Bounded: a busy shared engine can hold image deletions for a long time.
    const bounded = { timeoutMs: 120_000 };
    for (const c of created.containers) await container(['delete', '--force', c], bounded);
    for (const i of created.images) await container(['image', 'delete', i], bounded);
    for (const n of created.networks) await container(['network', 'delete', n], bounded);
    await container(['image', 'prune'], bounded);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('says it is an emulator in --help', async () => {
    const top = (await container(['--help']));
    expect(top.status).toBe(0);
    expect(top.stdout).toMatch(/EMULATOR/);
    expect((await ok(['run', '--help']))).toMatch(/EMULATOR/);
  });

  it('fails on unknown options like the real CLI: exit 64 and the option named', async () => {
    for (const args of [
      ['run', '--bogus', FIXTURE],
      ['list', '--no-such-flag'],
      ['exec', '-Z', 'x', 'true'],
      ['image', 'inspect', '--nope', FIXTURE],
    ]) {
      const r = (await container(args));
      expect(r.status, args.join(' ')).toBe(64);
      const flag = args.find((a) => a.startsWith('-')) as string;
      expect(r.stderr).toContain(`Unknown option '${flag}'`);
    }
    const missing = (await container(['run', '--name']));
    expect(missing.status).toBe(64);
    expect(missing.stderr).toMatch(/Missing value for '--name/);
  });

  it('system status answers running, and not running when told so', async () => {
    expect((await container(['system', 'status'])).status).toBe(0);
    const down = (await container(['system', 'status'], { env: { CONTAINER_EMULATOR_SYSTEM: 'stopped' } }));
    expect(down.status).not.toBe(0);
    expect(down.stdout).toMatch(/not running/);
  });

  it('run --detach starts a labelled container; list shows running ones, as JSON shaped like Apple\'s', async () => {
    const name = `emu-run-${id}`;
    created.containers.add(name);
    expect((await ok(['run', '--name', name, '--detach', '--label', 'a.b=c', '--env', 'FOO=bar', FIXTURE, 'sleep', 'infinity'])).trim()).toBe(name);
    expect((await ok(['list', '--quiet'])).split('\n')).toContain(name);
    const snapshots = JSON.parse((await ok(['list', '--format', 'json']))) as {
      status: string;
      configuration: { id: string; labels: Record<string, string>; image: { reference: string } };
      networks: { address: string }[];
    }[];
    const mine = snapshots.find((s) => s.configuration.id === name);
    expect(mine?.status).toBe('running');
    expect(mine?.configuration.labels['a.b']).toBe('c');
    expect(mine?.configuration.image.reference).toBe(FIXTURE);
    const labels = execFileSync('docker', ['inspect', '--format', '{{index .Config.Labels "dev.bot-bottle.emulator"}}', name], {
      encoding: 'utf8',
    });
    expect(labels.trim()).toBe('container');
    expect((await ok(['exec', name, 'sh', '-c', 'echo $FOO'])).trim()).toBe('bar');
  });

  it('exec passes --user, stdin with -i, and the exit code', async () => {
    const name = `emu-run-${id}`;
    expect((await ok(['exec', '--user', 'root', name, 'id', '-u'])).trim()).toBe('0');
    expect((await ok(['exec', name, 'id', '-un'])).trim()).toBe('node');
    expect((await ok(['exec', '-i', name, 'cat'], { input: 'through stdin' }))).toBe('through stdin');
    expect((await container(['exec', name, 'sh', '-c', 'exit 7'])).status).toBe(7);
  });

  it('export of a running container fails: the real tool needs a stopped one', async () => {
    const name = `emu-run-${id}`;
    const out = join(stateDir, 'export.tar');
    const r = (await container(['export', '--output', out, name]));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/running/);
    expect(existsSync(out)).toBe(false);
  });

  it('a container is removed as soon as it stops, although it was run without --rm', async () => {
    const name = `emu-run-${id}`;
    expect((await ok(['stop', '--time', '1', name])).trim()).toBe(name);
    expect((await ok(['list', '--all', '--quiet'])).split('\n')).not.toContain(name);
    expect(dockerExists('container', name)).toBe(false);
    // ... so there is never a stopped container to export.
    const r = (await container(['export', name]));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/not found/);
    created.containers.delete(name);
  });

  it('a container whose process exits is gone too', async () => {
    const name = `emu-exit-${id}`;
    created.containers.add(name);
    (await ok(['run', '--detach', '--name', name, FIXTURE, 'true']));
    const deadline = Date.now() + 15_000;
    while (dockerExists('container', name) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 200));
    expect(dockerExists('container', name)).toBe(false);
    expect((await ok(['list', '--all', '--quiet'])).split('\n')).not.toContain(name);
  });

  it('delete --force removes a running container; without --force it refuses', async () => {
    const name = `emu-del-${id}`;
    created.containers.add(name);
    (await ok(['run', '--detach', '--name', name, FIXTURE, 'sleep', 'infinity']));
    expect((await container(['delete', name])).status).not.toBe(0);
    (await ok(['delete', '--force', name]));
    expect(dockerExists('container', name)).toBe(false);
    expect((await container(['delete', name])).stderr).toMatch(/not found/);
  });

  it('never touches docker containers or images it did not create', async () => {
    const foreign = `emu-foreign-${id}`;
    execFileSync('docker', ['create', '--name', foreign, FIXTURE, 'true'], { stdio: 'pipe' });
    const foreignTag = `emu-foreign-image-${id}:latest`;
    execFileSync('docker', ['tag', FIXTURE, foreignTag]);
    try {
      for (const args of [['delete', '--force', foreign], ['exec', foreign, 'true'], ['stop', foreign]]) {
        const r = (await container(args));
        expect(r.status, args.join(' ')).not.toBe(0);
        expect(r.stderr).toMatch(/refusing|not found/);
      }
      expect(dockerExists('container', foreign)).toBe(true);
      expect((await ok(['list', '--all', '--quiet'])).split('\n')).not.toContain(foreign);
      const del = (await container(['image', 'delete', foreignTag]));
      expect(del.status).not.toBe(0);
      expect(del.stderr).toMatch(/refusing/);
      expect(dockerExists('image', foreignTag)).toBe(true);
    } finally {
      execFileSync('docker', ['rm', '--force', foreign], { stdio: 'pipe' });
      execFileSync('docker', ['rmi', foreignTag], { stdio: 'pipe' });
    }
  });

  it('build -t -f with a context, image inspect (Apple shape), tag, save -o and delete', async () => {
    const dir = mkdtempSync(join(stateDir, 'ctx-'));
    writeFileSync(join(dir, 'hello.txt'), 'hello\n');
    const dockerfile = join(stateDir, `Dockerfile-${id}`);
    writeFileSync(dockerfile, `FROM ${FIXTURE}\nCOPY hello.txt /hello.txt\nUSER node\nWORKDIR /home/node\nENV GREETING=hi\n`);
    const tag = `emu-built-${id}:latest`;
    created.images.add(tag);
    (await ok(['build', '-t', tag, '-f', dockerfile, dir]));
    const [info] = JSON.parse((await ok(['image', 'inspect', tag]))) as {
      name: string;
      variants: { config: { config: { User: string; WorkingDir: string; Env: string[] } } }[];
    }[];
    expect(info?.name).toBe(tag);
    const config = info?.variants[0]?.config.config;
    expect(config?.User).toBe('node');
    expect(config?.WorkingDir).toBe('/home/node');
    expect(config?.Env).toContain('GREETING=hi');
    expect((await container(['image', 'inspect', `emu-missing-${id}:latest`])).status).not.toBe(0);

    const other = `emu-built-${id}:other`;
    created.images.add(other);
    (await ok(['image', 'tag', tag, other]));
    expect((await ok(['image', 'list', '--quiet'])).split('\n')).toContain(other);
    const saved = join(stateDir, 'saved.tar');
    (await ok(['image', 'save', other, '-o', saved]));
    expect(statSync(saved).size).toBeGreaterThan(1024);

    (await ok(['image', 'delete', other]));
    expect(dockerExists('image', other)).toBe(false);
    expect(dockerExists('image', tag)).toBe(true);
    (await ok(['image', 'build', '--tag', tag, '--file', dockerfile, dir]));
    (await ok(['image', 'delete', tag]));
    expect(dockerExists('image', tag)).toBe(false);
    expect(dockerExists('image', FIXTURE)).toBe(true);
  });

  it('network create / run --network / delete', async () => {
    const net = `emu-net-${id}`;
    created.networks.add(net);
    (await ok(['network', 'create', '--label', 'x.y=z', net]));
    expect((await ok(['network', 'list', '--quiet'])).split('\n')).toContain(net);
    const name = `emu-net-ctr-${id}`;
    created.containers.add(name);
    (await ok(['run', '--detach', '--name', name, '--network', net, FIXTURE, 'sleep', 'infinity']));
    const [snap] = (JSON.parse((await ok(['list', '--format', 'json']))) as { configuration: { id: string }; networks: { network: string }[] }[]).filter(
      (s) => s.configuration.id === name,
    );
    expect(snap?.networks[0]?.network).toBe(net);
    (await ok(['delete', '--force', name]));
    (await ok(['network', 'delete', net]));
    expect(dockerExists('network', net)).toBe(false);
    expect((await container(['run', '--detach', '--network', 'bridge', FIXTURE, 'true'])).stderr).toMatch(/refusing/);
  });

  it('builder status/stop/start: a restarted builder gets the current gateway as DNS', async () => {
    // A builder left over from an older network: its nameserver is not the gateway any more.
    writeFileSync(join(stateDir, 'builder.json'), JSON.stringify({ running: true, nameservers: ['10.9.9.1'] }));
    const [stale] = JSON.parse((await ok(['builder', 'status', '--format', 'json']))) as {
      status: string;
      configuration: { dns: { nameservers: string[] } };
      networks: { gateway: string }[];
    }[];
    expect(stale?.status).toBe('running');
    expect(stale?.configuration.dns.nameservers).toEqual(['10.9.9.1']);
    (await ok(['builder', 'stop']));
    expect(JSON.parse((await ok(['builder', 'status', '--format', 'json'])))).toEqual([]);
    (await ok(['builder', 'start']));
    const [fresh] = JSON.parse((await ok(['builder', 'status', '--format', 'json']))) as typeof stale[];
    expect(fresh?.configuration.dns.nameservers).toEqual([fresh?.networks[0]?.gateway]);
    expect(readFileSync(join(stateDir, 'builder.log'), 'utf8')).toMatch(/stop\nstart\n$/);
  });
});
