import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_COMMANDS, CLI_ROOT, FIXTURES, REPO_ROOT, makeSandbox, requireBuilt, run, writeManifest, demoManifest, type Sandbox } from './helpers.js';

let sandbox: Sandbox;
/** The CLI's own version, as oclif prints it in `--version`. */
const version = (JSON.parse(readFileSync(join(CLI_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const versionPrefix = `@bot-bottle/cli/${version.replace(/\./g, '\\.')}`;

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
    expect(result.stdout).toMatch(new RegExp(`^${versionPrefix} `));
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

describe('--version without oclif (bin/run.js fast path)', () => {
  /** Every file URL a production run loaded, and its stdout. */
  const tracedRun = (args: string[]): { stdout: string; loaded: string[] } => {
    const out = join(sandbox.root, `trace-${Math.random().toString(36).slice(2)}.txt`);
    const result = run(sandbox, args, {
      production: true,
      env: { NODE_OPTIONS: `--import=${join(FIXTURES, 'trace-imports.mjs')}`, BB_TRACE_IMPORTS: out },
    });
    expect(result.status, result.stderr).toBe(0);
    const loaded = existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : [];
    rmSync(out, { force: true });
    return { stdout: result.stdout, loaded };
  };
  /** oclif ships inside the CLI's bundle; its entry is dist/entry.js. */
  /**
   * The workspace entry runs on the toolchain's Node, which may not be the
   * Node running these tests (e.g. checking Node 22): compare all but that.
   */
  const sameNodeVersion = (versionLine: string): string => versionLine.replace(/ node-v\d+\.\d+\.\d+$/m, ' node-v*');
  const oclifLoaded = (loaded: string[]): boolean => loaded.some((url) => url.endsWith('/packages/cli/dist/entry.js') || url.includes('/node_modules/@oclif/core/'));

  it('prints exactly what oclif prints, without loading oclif', () => {
    // The workspace entry always goes through oclif (dev plugins may have hooks).
    const viaOclif = run(sandbox, ['--version']);
    expect(viaOclif.status).toBe(0);
    const fast = tracedRun(['--version']);
    expect(sameNodeVersion(fast.stdout)).toBe(sameNodeVersion(viaOclif.stdout));
    expect(fast.stdout).toMatch(new RegExp(`^${versionPrefix} \\S+-\\S+ node-v\\d+\\.\\d+\\.\\d+\\n$`));
    expect(oclifLoaded(fast.loaded)).toBe(false);
  });

  it('leaves --version to oclif when user-installed plugins could run hooks', () => {
    mkdirSync(sandbox.data, { recursive: true });
    const userPlugins = join(sandbox.data, 'package.json');
    writeFileSync(userPlugins, `${JSON.stringify({ private: true, oclif: { schema: 1, plugins: [] } })}\n`);
    try {
      const slow = tracedRun(['--version']);
      expect(oclifLoaded(slow.loaded)).toBe(true);
      expect(sameNodeVersion(slow.stdout)).toBe(sameNodeVersion(run(sandbox, ['--version']).stdout));
    } finally {
      rmSync(userPlugins);
    }
  });

  it('skips no hook: neither the CLI nor its core plugins declare init or finally hooks', () => {
    const pjson = JSON.parse(readFileSync(join(CLI_ROOT, 'package.json'), 'utf8')) as {
      oclif: { hooks?: Record<string, unknown>; plugins?: string[] };
    };
    const hookEvents = (hooks: Record<string, unknown> | undefined): string[] => Object.keys(hooks ?? {}).filter((event) => event === 'init' || event === 'finally');
    expect(hookEvents(pjson.oclif.hooks)).toEqual([]);
    for (const plugin of pjson.oclif.plugins ?? []) {
      const file = [join(CLI_ROOT, 'node_modules', plugin, 'package.json'), join(REPO_ROOT, 'node_modules', plugin, 'package.json')].find((candidate) => existsSync(candidate));
      expect(file, `${plugin} is installed`).toBeDefined();
      const pluginJson = JSON.parse(readFileSync(file as string, 'utf8')) as { oclif?: { hooks?: Record<string, unknown> } };
      expect(hookEvents(pluginJson.oclif?.hooks), `${plugin} hooks`).toEqual([]);
    }
  });
});
