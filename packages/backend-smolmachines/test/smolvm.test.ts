import { describe, expect, it } from 'vitest';
import { argvFor, parseMachineList, SmolvmCli, SmolvmError, smolvmBinary, type SmolvmResult, type SmolvmRunner } from '../src/smolvm.js';
import { execRetryingKilled, initScript, snapshotScript, waitExecReady } from '../src/provision.js';
import { inVmArgv } from '../src/bottle.js';
import { settingsFromEnv } from '../src/plan.js';

/** A fake smolvm: answers from a script of results, records every argv. */
function fake(results: Partial<SmolvmResult>[] | ((argv: readonly string[]) => Partial<SmolvmResult>)) {
  const calls: string[][] = [];
  let i = 0;
  const runner: SmolvmRunner = async (argv) => {
    calls.push([...argv]);
    const r = typeof results === 'function' ? results(argv) : (results[Math.min(i++, results.length - 1)] ?? {});
    return { exitCode: 0, stdout: '', stderr: '', ...r };
  };
  return { cli: new SmolvmCli({ BOT_BOTTLE_SMOLVM: '/opt/smolvm' }, runner), calls };
}

describe('smolvm argv shapes', () => {
  it('packs, creates, starts, stops, deletes, copies and lists the way smolvm expects', () => {
    expect(argvFor.packCreateImage('127.0.0.1:5000/x:y', '/o/agent')).toEqual(['pack', 'create', '--image', '127.0.0.1:5000/x:y', '-o', '/o/agent']);
    expect(argvFor.packCreateFromVm('vm', '/o/a')).toEqual(['pack', 'create', '--from-vm', 'vm', '-o', '/o/a']);
    expect(argvFor.machineStart('vm')).toEqual(['machine', 'start', '--name', 'vm']);
    expect(argvFor.machineStop('vm')).toEqual(['machine', 'stop', '--name', 'vm']);
    expect(argvFor.machineDelete('vm')).toEqual(['machine', 'delete', '-f', 'vm']);
    expect(argvFor.machineCp('vm:/a', '/b')).toEqual(['machine', 'cp', 'vm:/a', '/b']);
    expect(argvFor.machineList()).toEqual(['machine', 'ls', '--json']);
  });

  it('sends --net whenever a CIDR is allowed, also with --from', () => {
    expect(argvFor.machineCreate('vm', { from: '/s.smolmachine', allowCidrs: ['10.0.0.0/8'], env: { A: 'b' } })).toEqual([
      'machine', 'create', '--from', '/s.smolmachine', '--net', '--allow-cidr', '10.0.0.0/8', '-e', 'A=b', 'vm',
    ]);
    expect(argvFor.machineCreate('vm', { image: 'img' })).toEqual(['machine', 'create', '--image', 'img', 'vm']);
    expect(argvFor.machineCreate('vm', { from: '/s', net: true })).toEqual(['machine', 'create', '--from', '/s', '--net', 'vm']);
    expect(() => argvFor.machineCreate('vm', { from: '/s', image: 'i' })).toThrow();
  });

  it('puts exec options before -- and the command after it', () => {
    expect(argvFor.machineExec('vm', ['ls', '-la'], { workdir: '/w', timeout: '30s', env: { K: 'v' } })).toEqual([
      'machine', 'exec', '--name', 'vm', '-w', '/w', '--timeout', '30s', '-e', 'K=v', '--', 'ls', '-la',
    ]);
    expect(argvFor.machineExec('vm', ['cat'], { interactive: true, tty: true })).toEqual(['machine', 'exec', '--name', 'vm', '-i', '-t', '--', 'cat']);
  });
});

describe('SmolvmCli', () => {
  it('runs BOT_BOTTLE_SMOLVM, else smolvm', () => {
    expect(smolvmBinary({ BOT_BOTTLE_SMOLVM: '/x/smolvm' })).toBe('/x/smolvm');
    expect(smolvmBinary({})).toBe('smolvm');
  });

  it('returns the in-VM exit code of exec instead of throwing', async () => {
    const { cli, calls } = fake([{ exitCode: 3, stdout: 'o', stderr: 'e' }]);
    await expect(cli.machineExec('vm', ['false'])).resolves.toEqual({ exitCode: 3, stdout: 'o', stderr: 'e' });
    expect(calls[0]?.[0]).toBe('/opt/smolvm');
  });

  it('throws an error carrying argv, exit code and stderr for other failures', async () => {
    const { cli } = fake([{ exitCode: 1, stderr: "Error: machine 'vm' not found" }]);
    const error = await cli.machineStart('vm').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmolvmError);
    expect((error as SmolvmError).argv).toEqual(['/opt/smolvm', 'machine', 'start', '--name', 'vm']);
    expect((error as SmolvmError).exitCode).toBe(1);
    expect((error as SmolvmError).stderr).toContain('not found');
  });

  it('parses machine ls --json', async () => {
    const { cli } = fake([{ stdout: JSON.stringify([{ name: 'bot-bottle-a', state: 'running' }, { name: 'x', state: 'Stopped' }]) }]);
    expect((await cli.machineList()).map((m) => [m.name, m.state])).toEqual([['bot-bottle-a', 'running'], ['x', 'stopped']]);
    expect(parseMachineList('')).toEqual([]);
    expect(parseMachineList('{"machines":[{"name":"m","status":"running"}]}')[0]?.state).toBe('running');
  });
});

describe('provisioning helpers', () => {
  it('polls the exec channel until it answers, without a fixed sleep', async () => {
    const refused = { exitCode: 1, stderr: 'failed to connect to agent: Connection refused' };
    const { cli, calls } = fake([refused, refused, { exitCode: 137 }, { exitCode: 0 }]);
    const started = Date.now();
    expect(await waitExecReady(cli, 'vm', { initialDelayMs: 1 })).toBe(4);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(calls.every((c) => c.slice(-2).join(' ') === '-- true')).toBe(true);
  });

  it('gives up on a channel that never answers with a clear error', async () => {
    const { cli } = fake([{ exitCode: 1, stderr: 'Connection refused' }]);
    await expect(waitExecReady(cli, 'vm', { timeoutMs: 50, initialDelayMs: 5 })).rejects.toThrow(/did not answer/);
  });

  it('retries an exec killed with 137 exactly once', async () => {
    const once = fake([{ exitCode: 137 }, { exitCode: 0, stdout: 'ok' }]);
    expect((await execRetryingKilled(once.cli, 'vm', ['sh', '-c', 'x'])).stdout).toBe('ok');
    expect(once.calls).toHaveLength(2);
    const twice = fake([{ exitCode: 137 }]);
    expect((await execRetryingKilled(twice.cli, 'vm', ['x'])).exitCode).toBe(137);
    expect(twice.calls).toHaveLength(2);
    const other = fake([{ exitCode: 2 }]);
    expect((await execRetryingKilled(other.cli, 'vm', ['x'])).exitCode).toBe(2);
    expect(other.calls).toHaveLength(1);
  });

  it('has tar write a gzip file inside the VM, never to stdout', () => {
    const script = snapshotScript('/var/tmp/.bot-bottle-commit-abc.tar.gz');
    expect(script).toContain("--file='/var/tmp/.bot-bottle-commit-abc.tar.gz'");
    expect(script).toContain('--gzip');
    expect(script).not.toMatch(/--file=-|-f -/);
    for (const dir of ['proc', 'sys', 'dev', 'run', 'tmp', 'var/tmp']) expect(script).toContain(`--exclude='./${dir}/*'`);
    expect(script).toContain('/var/lib/bot-bottle/owners');
  });

  it('initialises /tmp, /var/tmp and the home in one script', () => {
    const script = initScript('node', '/home/node');
    expect(script).toContain('mkdir -p /tmp /var/tmp');
    expect(script).toContain('chmod 1777 /tmp /var/tmp');
    expect(script).toContain('chown root:root /tmp /var/tmp');
    expect(script).toContain("chown 'node': '/home/node'");
  });

  it('runs agent commands through runuser with the caller env winning', () => {
    const id = { slug: 's', name: 'bot-bottle-s', agentUser: 'node', agentHome: '/home/node', workdir: '/home/node' };
    expect(inVmArgv(id, ['id'], {})).toEqual(['runuser', '-u', 'node', '--', 'id']);
    expect(inVmArgv(id, ['id'], { env: { A: '1' } })).toEqual(['runuser', '-u', 'node', '--', 'env', 'A=1', 'id']);
    expect(inVmArgv(id, ['id'], { user: 'root' })).toEqual(['id']);
  });

  it('reads network settings from the environment', () => {
    expect(settingsFromEnv({ BOT_BOTTLE_SMOLMACHINES_ALLOW_CIDRS: '10.0.0.0/8, 1.2.3.4/32' })).toEqual({ net: false, allowCidrs: ['10.0.0.0/8', '1.2.3.4/32'] });
    expect(settingsFromEnv({ BOT_BOTTLE_SMOLMACHINES_NET: '1' }).net).toBe(true);
  });
});
