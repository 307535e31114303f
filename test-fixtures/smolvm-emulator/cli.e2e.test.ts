// smolvm EMULATOR: the CLI surface (help, version, argument errors).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { skipWithoutDocker } from '../lib/engine-gate.js';
import { smolvm } from './harness.js';

describe.skipIf(skipWithoutDocker())('smolvm emulator: CLI surface', () => {
  const home = mkdtempSync(join(tmpdir(), 'smolvm-emu-cli-'));
  const env = { SMOLVM_EMULATOR_HOME: home };
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('--help and --version name it an emulator', async () => {
    const help = await smolvm(['--help'], env);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/EMULATOR/);
    expect(help.out).toMatch(/pack create/);
    const version = await smolvm(['--version'], env);
    expect(version.code).toBe(0);
    expect(version.out).toMatch(/^smolvm \d+\.\d+\.\d+ \(bot-bottle smolvm emulator\)\n$/);
    const sub = await smolvm(['machine', 'exec', '--help'], env);
    expect(sub.code).toBe(0);
    expect(sub.out).toMatch(/EMULATOR/);
    expect(sub.out).toMatch(/--timeout <DURATION>/);
  });

  it.each([
    [['machine', 'exec', '--name', 'x', '--user', 'node', '--', 'id'], '--user'],
    [['machine', 'create', 'x', '--image', 'a:b', '--bogus'], '--bogus'],
    [['machine', 'start', '--name', 'x', '--detach'], '--detach'],
    [['machine', 'stop', '-q', '--name', 'x'], '-q'],
    [['machine', 'ls', '--format', 'json'], '--format'],
    [['pack', 'create', '--image', 'a:b', '-o', '/tmp/x', '--frobnicate'], '--frobnicate'],
    [['--nope'], '--nope'],
  ])('rejects an unknown flag with exit 2 naming it: %j', async (args, flag) => {
    const r = await smolvm(args, env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: unexpected argument '${flag}' found`);
    expect(r.stderr).toContain("For more information, try '--help'.");
  });

  it('rejects unknown subcommands and missing required arguments with exit 2', async () => {
    const unknown = await smolvm(['machine', 'teleport'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unrecognized subcommand 'teleport'");
    const noCommand = await smolvm(['machine', 'exec', '--name', 'x'], env);
    expect(noCommand.code).toBe(2);
    expect(noCommand.stderr).toContain('<COMMAND>...');
    const noOutput = await smolvm(['pack', 'create', '--image', 'a:b'], env);
    expect(noOutput.code).toBe(2);
    expect(noOutput.stderr).toContain('--output <PATH>');
    const both = await smolvm(['machine', 'create', 'x', '--image', 'a:b', '--from', '/tmp/x.smolmachine'], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("cannot be used with '--image <IMAGE>'");
    const badCidr = await smolvm(['machine', 'create', 'x', '--image', 'a:b', '--allow-cidr', 'ten.0.0.1'], env);
    expect(badCidr.code).toBe(2);
    expect(badCidr.stderr).toContain("invalid value 'ten.0.0.1' for '--allow-cidr <CIDR>'");
    const badEnv = await smolvm(['machine', 'exec', '--name', 'x', '-e', 'NOEQUALS', '--', 'true'], env);
    expect(badEnv.code).toBe(2);
  });

  it('reports missing machines as runtime errors (exit 1, "Error: ...")', async () => {
    for (const args of [
      ['machine', 'start', '--name', 'ghost'],
      ['machine', 'stop', '--name', 'ghost'],
      ['machine', 'delete', '-f', 'ghost'],
      ['machine', 'exec', '--name', 'ghost', '--', 'true'],
    ]) {
      const r = await smolvm(args, env);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/^Error: machine 'ghost' not found/);
    }
    const pack = await smolvm(['pack', 'create', '--from-vm', 'ghost', '-o', join(home, 'p')], env);
    expect(pack.code).toBe(1);
    expect(pack.stderr).toBe("Error: pack from VM: VM 'ghost' not found\n");
  });

  it('machine ls --json prints [] with no machines', async () => {
    const r = await smolvm(['machine', 'ls', '--json'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual([]);
  });
});
