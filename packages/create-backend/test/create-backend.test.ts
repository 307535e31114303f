import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTRACT_VERSION } from '@bot-bottle/core';
import { caretRange, className, defaultNames, generateBackend, type GenerateResult } from '../src/index.js';
import { main } from '../src/cli.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../..');
const CORE = join(ROOT, 'packages/core');

interface GeneratedPjson {
  name: string;
  type: string;
  engines: { node: string };
  exports: Record<string, { types?: string; import?: string } | string>;
  files: string[];
  peerDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  oclif: object;
  botBottle: { backend: string; contract: string; entry: string };
  scripts: Record<string, string>;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(join(dir, entry.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}

describe('create-backend', () => {
  let temp: string;
  let result: GenerateResult;
  let pjson: GeneratedPjson;

  beforeAll(async () => {
    temp = await mkdtemp(join(tmpdir(), 'bot-bottle-create-backend-'));
    result = await generateBackend({ dir: join(temp, 'bot-bottle-backend-my-runtime') });
    pjson = JSON.parse(await readFile(join(result.dir, 'package.json'), 'utf8')) as GeneratedPjson;
  });

  afterAll(async () => {
    if (temp) await rm(temp, { recursive: true, force: true });
  });

  it('derives names from the directory', () => {
    expect(defaultNames('/x/bot-bottle-backend-podman')).toEqual({ backendName: 'podman', packageName: 'bot-bottle-backend-podman' });
    expect(defaultNames('./podman')).toEqual({ backendName: 'podman', packageName: 'bot-bottle-backend-podman' });
    expect(className('my-runtime')).toBe('MyRuntime');
    expect(caretRange('0.1.3')).toBe('^0.1.0');
    expect(caretRange('2.4.0')).toBe('^2.0.0');
  });

  it('writes a package.json the CLI accepts as a backend and npm can publish', async () => {
    const corePjson = JSON.parse(await readFile(join(CORE, 'package.json'), 'utf8')) as { version: string };
    expect(result).toMatchObject({ backendName: 'my-runtime', packageName: 'bot-bottle-backend-my-runtime' });
    expect(pjson.name).toBe('bot-bottle-backend-my-runtime');
    expect(pjson.type).toBe('module');
    expect(pjson.engines.node).toBe('>=22');
    expect(pjson.botBottle).toEqual({ backend: 'my-runtime', contract: `^${CONTRACT_VERSION.split('.')[0]}.0.0`, entry: './dist/index.js' });
    expect(pjson.oclif).toEqual({});
    expect(pjson.exports['.']).toEqual({ types: './dist/index.d.ts', import: './dist/index.js' });
    expect(pjson.files).toContain('dist');
    expect(pjson.peerDependencies['@bot-bottle/core']).toBe(caretRange(corePjson.version));
    expect(pjson.devDependencies['@bot-bottle/core']).toBe(pjson.peerDependencies['@bot-bottle/core']);
    expect(pjson.scripts.test).toBe('vitest run');
  });

  it('generates source, the contract test and a .gitignore, with every placeholder filled', async () => {
    const files = await listFiles(result.dir);
    expect(files).toEqual(
      expect.arrayContaining(['.gitignore', 'README.md', 'package.json', 'src/index.ts', 'src/freezer.ts', 'test/contract.test.ts', 'tsconfig.json', 'tsconfig.build.json', 'vitest.config.ts']),
    );
    expect(files.some((f) => f.includes('_gitignore') || f.includes('_package.json'))).toBe(false);
    for (const file of files) expect(await readFile(join(result.dir, file), 'utf8'), file).not.toMatch(/__[A-Z_]+__/);
    const test = await readFile(join(result.dir, 'test/contract.test.ts'), 'utf8');
    expect(test).toContain("from '@bot-bottle/core/contract'");
    expect(test).toContain('runContractSuite(');
    expect(await readFile(join(result.dir, 'src/index.ts'), 'utf8')).toContain('class MyRuntimeBackend');
  });

  it('typechecks against @bot-bottle/core', async () => {
    // Stand in for `npm install`: the workspace's (built) core and the repository's dev tools.
    const modules = join(result.dir, 'node_modules');
    await mkdir(join(modules, '@bot-bottle'), { recursive: true });
    await symlink(CORE, join(modules, '@bot-bottle/core'), 'dir');
    for (const dep of ['@types', 'vitest', 'typescript']) await symlink(join(ROOT, 'node_modules', dep), join(modules, dep), 'dir');
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    let diagnostics = '';
    try {
      await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: result.dir });
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      diagnostics = `${stdout}${stderr}` || String(error);
    }
    expect(diagnostics).toBe('');
    await run(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: result.dir });
    const built = await readdir(join(result.dir, 'dist'));
    expect(built).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'freezer.js']));
    // The built entry is a BackendPlugin the CLI can import.
    const plugin = (await import(join(result.dir, 'dist/index.js'))) as { default: { name: string; contractVersion: string; createBackend: unknown } };
    expect(plugin.default.name).toBe('my-runtime');
    expect(plugin.default.contractVersion).toBe(CONTRACT_VERSION);
    expect(typeof plugin.default.createBackend).toBe('function');
  }, 120_000);

  it('refuses a non-empty directory and a bad backend name', async () => {
    const busy = join(temp, 'busy');
    await mkdir(busy);
    await writeFile(join(busy, 'file'), 'x');
    await expect(generateBackend({ dir: busy })).rejects.toThrow(/not empty/);
    await expect(generateBackend({ dir: join(temp, 'x'), backendName: 'Bad Name' })).rejects.toThrow(/not a valid backend name/);
  });

  it('the command line generates too and explains usage', async () => {
    const writes: string[] = [];
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      expect(await main([join(temp, 'cli-made'), '--name', 'cli-made', '--package', '@acme/bot-bottle-backend'])).toBe(0);
      expect(await main([])).toBe(2);
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
    }
    const made = JSON.parse(await readFile(join(temp, 'cli-made/package.json'), 'utf8')) as GeneratedPjson;
    expect(made.name).toBe('@acme/bot-bottle-backend');
    expect(made.botBottle.backend).toBe('cli-made');
    expect(writes.join('')).toContain('npm install');
  });
});
