// smolvm EMULATOR: machines, packs and the quirks of the real smolvm that the
// emulator reproduces. Every quirk has a test here so a regression fails.
//
// The pull path is real: a tiny OCI distribution server (oci-registry.ts) on
// 127.0.0.1 serves the fixture image, and the emulator pulls it with skopeo.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithoutDocker } from '../lib/engine-gate.js';
import { sh, shAsync, smolvm, uniqueName } from './harness.js';
import type { LoopbackRegistry } from './oci-registry.js';
import { startRegistryProcess } from './oci-registry.js';

const FIXTURE_IMAGE = 'bot-bottle-fixture-agent:latest';
const REPO = 'bot-bottle/fixture-agent';

interface LsEntry {
  name: string;
  state: string;
  network: boolean;
  allowed_cidrs: string[] | null;
  emulator: { container: string; docker_image: string };
}

describe.skipIf(skipWithoutDocker())('smolvm emulator: machines and quirks (Docker-backed emulator)', () => {
  const work = mkdtempSync(join(tmpdir(), 'smolvm-emu-e2e-'));
  const home = join(work, 'home');
  const env = { SMOLVM_EMULATOR_HOME: home, SMOLVM_EMULATOR_EXEC_WARMUP_MS: '0' };
  const dockerImagesSeen = new Set<string>();
  const foreignContainers: string[] = [];
  let registry: LoopbackRegistry;
  let ref: string;
  let packed: string; // launcher path; payload is `${packed}.smolmachine`

  const ls = async (): Promise<LsEntry[]> => {
    const r = await smolvm(['machine', 'ls', '--json'], env);
    expect(r.code).toBe(0);
    const entries = JSON.parse(r.out) as LsEntry[];
    for (const e of entries) dockerImagesSeen.add(e.emulator.docker_image);
    return entries;
  };
  const ok = async (args: string[], extraEnv: Record<string, string> = {}): Promise<string> => {
    const r = await smolvm(args, { ...env, ...extraEnv });
    if (r.code !== 0) throw new Error(`smolvm ${args.join(' ')} -> ${r.code}: ${r.stderr}`);
    return r.out;
  };
  const boot = async (tag: string, createArgs: string[] = []): Promise<string> => {
    const name = uniqueName(tag);
    await ok(['machine', 'create', name, '--from', `${packed}.smolmachine`, ...createArgs]);
    await ok(['machine', 'start', '--name', name]);
    await ls();
    return name;
  };
  const exec = (name: string, argv: string[], extraEnv: Record<string, string> = {}) =>
    smolvm(['machine', 'exec', '--name', name, '--', ...argv], { ...env, ...extraEnv });

  beforeAll(async () => {
    const layout = join(work, 'layout');
    await shAsync('skopeo', ['copy', '--quiet', `docker-daemon:${FIXTURE_IMAGE}`, `oci:${layout}:latest`]);
    registry = await startRegistryProcess(layout, REPO, join(work, 'registry.log'));
    ref = `${registry.host}/${REPO}:latest`;
    packed = join(work, 'packs', 'agent');
    await ok(['pack', 'create', '--image', ref, '-o', packed]);
  });

  afterAll(async () => {
    for (const m of existsSync(home) ? (await ls()) : []) await smolvm(['machine', 'delete', '-f', m.name], env);
    for (const c of foreignContainers) spawnSync('docker', ['rm', '-f', c], { timeout: 20_000 });
    // Best effort, bounded: never let image cleanup hang the suite.
    if (dockerImagesSeen.size) spawnSync('docker', ['rmi', ...dockerImagesSeen], { timeout: 20_000 });
    await registry?.close();
    rmSync(work, { recursive: true, force: true });
  });

  describe('pack create --image (pulled over the OCI distribution protocol)', () => {
    it('pulls from the loopback registry with a real client and writes launcher + payload', async () => {
      expect(registry.requests).toContain(`GET /v2/${REPO}/manifests/latest`);
      expect(registry.requests.some((r) => r.startsWith(`GET /v2/${REPO}/blobs/sha256:`))).toBe(true);
      expect(statSync(packed).mode & 0o111).not.toBe(0);
      expect(readFileSync(packed, 'utf8')).toMatch(/smolvm EMULATOR/);
      expect(statSync(`${packed}.smolmachine`).size).toBeGreaterThan(1024 * 1024);
    });

    it('remaps every file owner to the host uid (SMOLVM_EMULATOR_HOST_UID, default 501) like smolvm < 1.8.1', async () => {
      const listing = await shAsync('sh', ['-c', `tar -xOf '${packed}.smolmachine' rootfs.tar | tar -tv --numeric-owner`]);
      const owners = new Set(listing.trim().split('\n').map((l) => l.split(/\s+/)[1]));
      expect(owners).toEqual(new Set(['501/20']));
    });

    it('SMOLVM_EMULATOR_PRESERVE_OWNERS=1 keeps owners like later smolvm versions', async () => {
      const out = join(work, 'packs', 'preserved');
      await ok(['pack', 'create', '--image', ref, '-o', out], { SMOLVM_EMULATOR_PRESERVE_OWNERS: '1' });
      const listing = await shAsync('sh', ['-c', `tar -xOf '${out}.smolmachine' rootfs.tar | tar -tv --numeric-owner`]);
      expect(listing).toMatch(/ 1000\/1000 .*home\/node\/?\n/);
      expect(listing).toMatch(/ 0\/0 .*etc\/passwd\n/);
      rmSync(out, { force: true });
      rmSync(`${out}.smolmachine`, { force: true });
    });

    it('fails with exit 1 when the registry does not have the image', async () => {
      const r = await smolvm(['pack', 'create', '--image', `${registry.host}/${REPO}:missing`, '-o', join(work, 'packs', 'nope')], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^Error: pull image/);
    });
  });

  describe('machines booted --from a .smolmachine', () => {
    let vm: string;
    beforeAll(async () => {
      vm = await boot('main', ['-e', 'CREATED_WITH=yes']);
    });

    it('runs as a labelled container named after the machine and lists as running', async () => {
      const entry = (await ls()).find((m) => m.name === vm);
      expect(entry?.state).toBe('running');
      expect(entry?.emulator.container).toBe(`smolvm-emu-${vm}`);
      const labels = JSON.parse(sh('docker', ['inspect', '--format', '{{json .Config.Labels}}', `smolvm-emu-${vm}`])) as Record<string, string>;
      expect(labels['dev.bot-bottle.emulator']).toBe('smolvm');
    });

    it('exec runs as root, carries the image config (workdir, env) and the in-VM exit code', async () => {
      const r = await exec(vm, ['sh', '-c', 'id -u; pwd; echo "$HOME $CREATED_WITH"; exit 7']);
      expect(r.code).toBe(7);
      expect(r.out).toBe('0\n/home/node\n/home/node yes\n');
      const flags = await smolvm(['machine', 'exec', '--name', vm, '-w', '/tmp', '-e', 'FOO=bar baz', '--', 'sh', '-c', 'pwd; echo "$FOO"'], env);
      expect(flags.code).toBe(0);
      expect(flags.out).toBe('/tmp\nbar baz\n');
      const missing = await exec(vm, ['/no/such/binary']);
      expect(missing.code).not.toBe(0);
    });

    it('shows the owner remap inside the machine (home owned by 501, not node)', async () => {
      const r = await exec(vm, ['stat', '-c', '%u:%g', '/home/node', '/etc/passwd']);
      expect(r.out).toBe('501:20\n501:20\n');
    });

    it('exec fails (non-zero, empty stderr) when stdout is a regular file or /dev/null', async () => {
      const file = join(work, 'exec-stdout.txt');
      const fd = openSync(file, 'w');
      try {
        const r = await smolvm(['machine', 'exec', '--name', vm, '--', 'echo', 'hello'], env, ['ignore', fd, 'pipe']);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toBe('');
      } finally {
        closeSync(fd);
      }
      expect(readFileSync(file, 'utf8')).toBe('');
      const devnull = await smolvm(['machine', 'exec', '--name', vm, '--', 'true'], env, ['ignore', 'ignore', 'pipe']);
      expect(devnull.code).not.toBe(0);
      const piped = await exec(vm, ['echo', 'hello']);
      expect(piped.code).toBe(0);
      expect(piped.out).toBe('hello\n');
    });

    it('exec carries text of any size but loses binary stdout past 64 KiB', async () => {
      const text = await exec(vm, ['seq', '1', '60000']);
      expect(text.code).toBe(0);
      expect(text.stdout.length).toBeGreaterThan(64 * 1024);
      expect(text.out.trim().split('\n')).toHaveLength(60000);
      const smallBinary = await exec(vm, ['head', '-c', '60000', '/dev/urandom']);
      expect(smallBinary.stdout.length).toBe(60000);
      const bigBinary = await exec(vm, ['sh', '-c', 'head -c 300000 /dev/urandom > /var/tmp/blob && cat /var/tmp/blob']);
      expect(bigBinary.code).toBe(0);
      expect(bigBinary.stdout.length).toBeLessThan(300000);
      // machine cp is the reliable way out: byte-identical.
      const local = join(work, 'blob');
      await ok(['machine', 'cp', `${vm}:/var/tmp/blob`, local]);
      expect(statSync(local).size).toBe(300000);
      expect(readFileSync(local).subarray(0, 65536).equals(bigBinary.stdout.subarray(0, 65536))).toBe(true);
    });

    it('machine cp copies regular files in both directions', async () => {
      const src = join(work, 'upload.bin');
      const payload = randomBytes(100_000);
      writeFileSync(src, payload);
      const up = await smolvm(['machine', 'cp', src, `${vm}:/var/tmp/upload.bin`], env);
      expect(up.code).toBe(0);
      expect(up.stderr).toBe('Uploaded 100000 bytes\n');
      expect((await exec(vm, ['sha256sum', '/var/tmp/upload.bin'])).out.split(' ')[0]).toBe(
        sh('sha256sum', [src]).split(' ')[0],
      );
      const back = join(work, 'download.bin');
      const down = await smolvm(['machine', 'cp', `${vm}:/var/tmp/upload.bin`, back], env);
      expect(down.code).toBe(0);
      expect(down.stderr).toBe('Downloaded 100000 bytes\n');
      expect(readFileSync(back).equals(payload)).toBe(true);
      const neither = await smolvm(['machine', 'cp', src, back], env);
      expect(neither.code).toBe(1);
      expect(neither.stderr).toMatch(/machine:path/);
    });

    it('--timeout kills the in-VM command', async () => {
      const started = Date.now();
      const r = await smolvm(['machine', 'exec', '--name', vm, '--timeout', '1s', '--', 'sleep', '30'], env);
      expect(r.code).toBe(124);
      expect(r.stderr).toMatch(/timed out/);
      expect(Date.now() - started).toBeLessThan(15_000);
    });

    it('pack create --from-vm refuses a running machine, as smolvm does', async () => {
      const r = await smolvm(['pack', 'create', '--from-vm', vm, '-o', join(work, 'packs', 'fromvm')], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`Error: pack from VM: VM '${vm}' is running. Stop it first with: smolvm machine stop --name ${vm}\n`);
    });
  });

  describe('lifecycle quirks', () => {
    it('stopping a machine deletes it, so pack --from-vm can never follow a stop', async () => {
      const vm = await boot('stop');
      await ok(['machine', 'stop', '--name', vm]);
      expect((await ls()).some((m) => m.name === vm)).toBe(false);
      expect(spawnSync('docker', ['container', 'inspect', `smolvm-emu-${vm}`]).status).not.toBe(0);
      const pack = await smolvm(['pack', 'create', '--from-vm', vm, '-o', join(work, 'packs', 'gone')], env);
      expect(pack.code).toBe(1);
      expect(pack.stderr).toBe(`Error: pack from VM: VM '${vm}' not found\n`);
      const again = await smolvm(['machine', 'stop', '--name', vm], env);
      expect(again.code).toBe(1);
      expect(again.stderr).toBe(`Error: machine '${vm}' not found\n`);
    });

    it('a created-but-never-started machine is stopped, can be packed, and delete -f removes it', async () => {
      const vm = uniqueName('idle');
      await ok(['machine', 'create', vm, '--from', `${packed}.smolmachine`]);
      expect((await ls()).find((m) => m.name === vm)?.state).toBe('stopped');
      expect(await ok(['machine', 'stop', '--name', vm])).toBe(`Machine '${vm}' is not running\n`);
      const out = join(work, 'packs', 'idle');
      await ok(['pack', 'create', '--from-vm', vm, '-o', out]);
      expect(existsSync(`${out}.smolmachine`)).toBe(true);
      rmSync(`${out}.smolmachine`, { force: true });
      expect(await ok(['machine', 'delete', '-f', vm])).toBe(`Deleted machine: ${vm}\n`);
      expect((await ls()).some((m) => m.name === vm)).toBe(false);
    });

    it('exec fails with a connection refusal until the exec channel warms up after start', async () => {
      const vm = uniqueName('warm');
      await ok(['machine', 'create', vm, '--from', `${packed}.smolmachine`]);
      const warm = { SMOLVM_EMULATOR_EXEC_WARMUP_MS: '4000' };
      await ok(['machine', 'start', '--name', vm], warm);
      const early = await exec(vm, ['true'], warm);
      expect(early.code).toBe(1);
      expect(early.stderr).toMatch(/Connection refused/);
      const deadline = Date.now() + 10_000;
      let last = early;
      while (last.code !== 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        last = await exec(vm, ['true'], warm);
      }
      expect(last.code).toBe(0);
      await ok(['machine', 'stop', '--name', vm]);
    });

    it('SMOLVM_EMULATOR_KILL_FIRST_EXEC=1 SIGKILLs the first exec after start once (exit 137), so retry-once works', async () => {
      const vm = await boot('kill');
      const kill = { SMOLVM_EMULATOR_KILL_FIRST_EXEC: '1' };
      const first = await exec(vm, ['sh', '-c', 'echo ran >> /var/tmp/ran'], kill);
      expect(first.code).toBe(137);
      expect(first.out).toBe('');
      const retry = await exec(vm, ['sh', '-c', 'echo ran >> /var/tmp/ran; cat /var/tmp/ran'], kill);
      expect(retry.code).toBe(0);
      expect(retry.out).toBe('ran\n'); // the killed exec never ran
      await ok(['machine', 'stop', '--name', vm]);
    });

    it('SMOLVM_EMULATOR_KILL_EXEC_MATCH limits the kill to a matching command', async () => {
      const vm = await boot('killmatch');
      const kill = { SMOLVM_EMULATOR_KILL_FIRST_EXEC: '1', SMOLVM_EMULATOR_KILL_EXEC_MATCH: 'provision-step' };
      expect((await exec(vm, ['true'], kill)).code).toBe(0);
      expect((await exec(vm, ['sh', '-c', 'true provision-step'], kill)).code).toBe(137);
      expect((await exec(vm, ['sh', '-c', 'true provision-step'], kill)).code).toBe(0);
      await ok(['machine', 'stop', '--name', vm]);
    });
  });

  describe('networking', () => {
    const networkMode = (vm: string): string =>
      sh('docker', ['inspect', '--format', '{{.HostConfig.NetworkMode}}', `smolvm-emu-${vm}`]).trim();

    it('--from with --allow-cidr but without --net gives a machine with no network', async () => {
      const vm = await boot('nonet', ['--allow-cidr', '10.1.2.3/32']);
      const entry = (await ls()).find((m) => m.name === vm);
      expect(entry?.network).toBe(false);
      expect(networkMode(vm)).toBe('none');
      expect((await exec(vm, ['ls', '/sys/class/net'])).out).toBe('lo\n');
      await ok(['machine', 'stop', '--name', vm]);
    });

    it('--from with --net --allow-cidr has a network', async () => {
      const vm = await boot('net', ['--net', '--allow-cidr', '10.1.2.3/32']);
      expect((await ls()).find((m) => m.name === vm)?.network).toBe(true);
      expect(networkMode(vm)).not.toBe('none');
      expect((await exec(vm, ['ls', '/sys/class/net'])).out).toMatch(/eth0/);
      await ok(['machine', 'stop', '--name', vm]);
    });

    it('--image with --allow-cidr implies --net; image config carries over; owners are not remapped', async () => {
      const vm = uniqueName('image');
      await ok(['machine', 'create', vm, '--image', ref, '--allow-cidr', '10.1.2.3/32']);
      await ok(['machine', 'start', '--name', vm]);
      const entry = (await ls()).find((m) => m.name === vm);
      expect(entry?.network).toBe(true);
      expect(entry?.allowed_cidrs).toEqual(['10.1.2.3/32']);
      expect(networkMode(vm)).not.toBe('none');
      const r = await exec(vm, ['sh', '-c', 'id -u; pwd; echo "$HOME"; stat -c %u:%g /home/node']);
      expect(r.out).toBe('0\n/home/node\n/home/node\n1000:1000\n');
      const cfg = JSON.parse(sh('docker', ['image', 'inspect', '--format', '{{json .Config}}', entry!.emulator.docker_image])) as { User: string; Cmd: string[] };
      expect(cfg.User).toBe('node');
      expect(cfg.Cmd).toEqual(['fixture-agent']);
      await ok(['machine', 'stop', '--name', vm]);
    });
  });

  it('refuses to touch a container it did not create', async () => {
    const vm = uniqueName('foreign');
    const container = `smolvm-emu-${vm}`;
    sh('docker', ['create', '--name', container, FIXTURE_IMAGE]);
    foreignContainers.push(container);
    const r = await smolvm(['machine', 'create', vm, '--from', `${packed}.smolmachine`], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not created by the smolvm emulator/);
    expect(spawnSync('docker', ['container', 'inspect', container]).status).toBe(0);
  });
});
