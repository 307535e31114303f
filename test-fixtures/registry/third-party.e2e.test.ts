/**
 * An outsider can write a backend: test-fixtures/third-party-backend is a
 * podman backend with its own package.json. Its @bot-bottle/core comes from
 * the registry (published here to verdaccio), never from the workspace; it
 * must typecheck against the published types and pass the FULL contract
 * suite against a real podman (installed from Debian's packages by its
 * setup.sh, the fixture image copied over from docker).
 */
import { lstat, mkdir, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithoutDocker } from '../lib/engine-gate.js';
import { cleanEnv, machineRegistry, REPO_ROOT, SCOPE, startRegistry, type LocalRegistry } from './verdaccio.js';
import { buildWorkspace } from './workspace.js';

const DIR = join(REPO_ROOT, 'test-fixtures/third-party-backend');
const CORE_DIR = join(DIR, 'node_modules/@bot-bottle/core');
const TSC = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
const VITEST = join(REPO_ROOT, 'node_modules/vitest/vitest.mjs');

interface VitestJson {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  testResults: { assertionResults: { title: string; status: string; failureMessages: string[] }[] }[];
}

describe.skipIf(skipWithoutDocker()).sequential('a third-party podman backend, built against the published @bot-bottle/core', () => {
  let registry: LocalRegistry | undefined;
  let npmHome: string | undefined;

  beforeAll(async () => {
    const setup = await execa('bash', [join(DIR, 'setup.sh')], { env: cleanEnv(), extendEnv: false, reject: false, all: true, timeout: 900_000 });
    if (setup.exitCode !== 0) throw new Error(`third-party-backend/setup.sh failed:\n${setup.all}`);

    registry = await startRegistry();
    await buildWorkspace();
    await registry.publish(join(REPO_ROOT, 'packages/core'));

    // The outsider's npm: the scope from the local registry, the rest from the usual one.
    npmHome = join(registry.dir, 'outsider-home');
    await mkdir(npmHome, { recursive: true });
    await writeFile(join(npmHome, '.npmrc'), `registry=${await machineRegistry()}\n${SCOPE}:registry=${registry.url}\nfund=false\naudit=false\n`);
    await rm(join(DIR, 'node_modules'), { recursive: true, force: true });
    const installed = await execa('npm', ['install', '--no-package-lock', '--no-audit', '--no-fund'], {
      cwd: DIR,
      env: cleanEnv({
        HOME: npmHome,
        npm_config_userconfig: join(npmHome, '.npmrc'),
        npm_config_cache: join(registry.dir, 'outsider-cache'),
        npm_config_update_notifier: 'false',
      }),
      extendEnv: false,
      reject: false,
      all: true,
      stdin: 'ignore',
      timeout: 300_000,
    });
    if (installed.exitCode !== 0) throw new Error(`npm install in ${DIR} failed:\n${installed.all}`);
  });

  afterAll(async () => {
    await rm(join(DIR, 'node_modules'), { recursive: true, force: true });
    await rm(join(DIR, 'dist'), { recursive: true, force: true });
    await registry?.stop();
  });

  it('resolves @bot-bottle/core to the copy installed from the registry, not the workspace', async () => {
    expect((await lstat(CORE_DIR)).isSymbolicLink()).toBe(false);
    expect(await realpath(CORE_DIR)).toBe(CORE_DIR);
    const resolved = await execa(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('@bot-bottle/core/contract'))"], {
      cwd: DIR,
      reject: false,
    });
    expect(resolved.exitCode, resolved.stderr).toBe(0);
    expect(resolved.stdout.trim()).toBe(`file://${CORE_DIR}/dist/contract-suite/index.js`);
    const pjson = JSON.parse(await readFile(join(CORE_DIR, 'package.json'), 'utf8')) as { version: string; _resolved?: string };
    expect(pjson.version).toMatch(/^\d+\.\d+\.\d+/);
    // Nothing in the package reaches into the repository's packages/.
    for (const dir of ['src', 'test']) {
      for (const file of await readdir(join(DIR, dir))) {
        const text = await readFile(join(DIR, dir, file), 'utf8');
        expect(text, `${dir}/${file}`).not.toMatch(/from '\.\.\/\.\.\/|packages\//);
      }
    }
  });

  it('typechecks and builds against the published types', async () => {
    const result = await execa(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: DIR, reject: false, all: true });
    expect(result.exitCode, result.all).toBe(0);
  });

  it('passes the full contract suite against a real podman', async () => {
    const report = join(registry!.dir, 'podman-contract.json');
    const result = await execa(process.execPath, [VITEST, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`], {
      cwd: DIR,
      env: cleanEnv(),
      extendEnv: false,
      reject: false,
      all: true,
      stdin: 'ignore',
      timeout: 1_800_000,
    });
    const json = JSON.parse(await readFile(report, 'utf8').catch(() => '{}')) as Partial<VitestJson>;
    const failures = (json.testResults ?? [])
      .flatMap((file) => file.assertionResults)
      .filter((test) => test.status !== 'passed')
      .map((test) => `${test.title}: ${test.status}\n${test.failureMessages.join('\n').slice(0, 2000)}`);
    expect(failures, result.all).toEqual([]);
    expect(result.exitCode, result.all).toBe(0);
    expect(json.numTotalTests ?? 0, result.all).toBeGreaterThanOrEqual(13);
    expect(json.numPassedTests, result.all).toBe(json.numTotalTests);
  });
});
