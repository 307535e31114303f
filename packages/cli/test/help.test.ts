import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_COMMANDS, FIXTURES, makeSandbox, requireBuilt, run, writeManifest, demoManifest, type Sandbox } from './helpers.js';

let sandbox: Sandbox;

beforeAll(() => {
  requireBuilt();
  sandbox = makeSandbox();
});
afterAll(() => sandbox.cleanup());

describe('help', () => {
  it('bot-bottle --help lists every command', () => {
    const result = run(sandbox, ['--help']);
    expect(result.status).toBe(0);
    for (const command of [...ALL_COMMANDS, 'plugins', 'help']) {
      expect(result.stdout).toMatch(new RegExp(`^\\s+${command}\\s+\\S`, 'm'));
    }
  });

  it.each(ALL_COMMANDS)('%s --help has a description and examples', (command) => {
    const result = run(sandbox, [command, '--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('DESCRIPTION');
    expect(result.stdout).toContain('EXAMPLES');
    expect(result.stdout).toContain(`$ bot-bottle ${command}`);
  });

  it('--version prints the package version', () => {
    const result = run(sandbox, ['--version'], { production: true });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^@bot-bottle\/cli\/0\.1\.0 /);
  });
});

describe('entries', () => {
  it('bin/bot-bottle loads the workspace backends as dev plugins; bin/run.js does not', () => {
    type Report = { backends: { name: string; package: string; source: string }[] };
    const workspace = JSON.parse(run(sandbox, ['backends', '--json']).stdout) as Report;
    for (const name of ['docker', 'macos-container', 'smolmachines']) {
      expect(workspace.backends).toContainEqual(expect.objectContaining({ name, package: `@bot-bottle/backend-${name}`, source: 'dev' }));
    }
    const production = JSON.parse(run(sandbox, ['backends', '--json'], { production: true }).stdout) as Report;
    expect(production.backends).toEqual([]);
  });
});

describe('start-up reads oclif.manifest.json', () => {
  const traced = (args: string[], cwd?: string): string[] => {
    const out = join(sandbox.root, `trace-${Math.random().toString(36).slice(2)}.txt`);
    const result = run(sandbox, args, {
      production: true,
      ...(cwd ? { cwd } : {}),
      env: { NODE_OPTIONS: `--import=${join(FIXTURES, 'trace-imports.mjs')}`, BB_TRACE_IMPORTS: out },
    });
    expect(result.status, result.stderr).toBe(0);
    const loaded = readFileSync(out, 'utf8').split('\n').filter(Boolean);
    rmSync(out);
    return loaded.filter((url) => url.includes('/packages/cli/dist/commands/'));
  };

  it('--version and --help import no command module', () => {
    expect(traced(['--version'])).toEqual([]);
    expect(traced(['--help'])).toEqual([]);
  });

  it('a command imports only its own module', () => {
    writeManifest(sandbox.project, demoManifest('docker'));
    const commands = traced(['list', 'agents'], sandbox.project);
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatch(/\/dist\/commands\/list\.js$/);
  });
});
