/**
 * A throw-away npm registry (verdaccio) on 127.0.0.1, for the distribution
 * tests: it has no uplinks, so it serves exactly what a test publishes to it.
 *
 *     const registry = await startRegistry();
 *     await registry.publish('/work/main/packages/core');
 *     ...
 *     await registry.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
const VERDACCIO_BIN = join(REPO_ROOT, 'node_modules/verdaccio/bin/verdaccio');

/** The scope the local registry serves. */
export const SCOPE = '@bot-bottle';

export interface LocalRegistry {
  /** `http://127.0.0.1:PORT/` (trailing slash, as npm writes registry URLs). */
  readonly url: string;
  readonly port: number;
  /** Temporary directory with the config, storage and log. */
  readonly dir: string;
  /** An .npmrc that sends the scope here and carries the publish token. */
  readonly npmrc: string;
  /** `//127.0.0.1:PORT/:_authToken=...` — the line an .npmrc needs to publish. */
  readonly authLine: string;
  /** `npm publish` the package in `packageDir` (built already). Returns `name@version`. */
  publish(packageDir: string, options?: { env?: NodeJS.ProcessEnv }): Promise<string>;
  /** Everything verdaccio logged (for failure messages). */
  log(): Promise<string>;
  /** Stop verdaccio and remove its directory. Idempotent. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (the kernel picks it; there is a tiny race, acceptable for tests). */
export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

/**
 * The environment a child npm runs in: the caller's, minus everything npm
 * (when it runs vitest through `npm run`), oclif and bot-bottle put in it,
 * so the child sees only what the test sets.
 */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|NPM_|INIT_CWD$|NODE_ENV$|BOT_BOTTLE_|XDG_|VITEST|TEST$|NODE_OPTIONS$)/i.test(key)) continue;
    env[key] = value;
  }
  // The installed CLI's `#!/usr/bin/env node` must find the Node running this test (>= 22).
  env.PATH = `${dirname(process.execPath)}:${env.PATH ?? ''}`;
  return { ...env, ...extra };
}

function config(dir: string, port: number): string {
  return `# bot-bottle distribution tests: no uplinks, serves only what the test publishes.
storage: ${JSON.stringify(join(dir, 'storage'))}
auth:
  htpasswd:
    file: ${JSON.stringify(join(dir, 'htpasswd'))}
    max_users: 100
uplinks: {}
packages:
  '${SCOPE}/*':
    access: $all
    publish: $anonymous $authenticated
    unpublish: $authenticated
  '**':
    access: $all
    publish: $authenticated
server:
  keepAliveTimeout: 60
middlewares:
  audit:
    enabled: false
web:
  enable: false
max_body_size: 200mb
listen: 127.0.0.1:${port}
log: { type: stdout, format: json, level: error }
`;
}

async function waitUntilUp(url: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`verdaccio exited with ${child.exitCode}:\n${await readFile(logFile, 'utf8').catch(() => '')}`);
    }
    try {
      const response = await fetch(`${url}-/ping`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`verdaccio did not answer on ${url} within 60 s`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

/** Create a user through the registry API (what `npm adduser` does) and return its token. */
async function addUser(url: string): Promise<string> {
  const name = 'bot-bottle-test';
  const response = await fetch(`${url}-/user/org.couchdb.user:${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password: 'bot-bottle-test-password', type: 'user', roles: [], date: new Date().toISOString() }),
  });
  const body = (await response.json()) as { token?: string };
  if (!response.ok || !body.token) throw new Error(`verdaccio refused to add a user: ${response.status} ${JSON.stringify(body)}`);
  return body.token;
}

export async function startRegistry(): Promise<LocalRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'bot-bottle-registry-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const configFile = join(dir, 'config.yaml');
  const logFile = join(dir, 'verdaccio.log');
  await mkdir(join(dir, 'storage'), { recursive: true });
  await writeFile(configFile, config(dir, port));
  await writeFile(logFile, '');

  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [VERDACCIO_BIN, '--config', configFile, '--listen', `127.0.0.1:${port}`], {
    cwd: dir,
    env: cleanEnv(),
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitUntilUp(url, child, logFile);
    const token = await addUser(url);
    const authLine = `//127.0.0.1:${port}/:_authToken=${token}`;
    const npmrc = join(dir, 'publish.npmrc');
    await writeFile(npmrc, `${SCOPE}:registry=${url}\n${authLine}\n`);

    const publish = async (packageDir: string, options: { env?: NodeJS.ProcessEnv } = {}): Promise<string> => {
      const pjson = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as { name: string; version: string };
      const result = await execa('npm', ['publish', '--registry', url, '--userconfig', npmrc, '--access', 'public', '--tag', 'latest'], {
        cwd: packageDir,
        env: cleanEnv({ npm_config_cache: join(dir, 'publish-cache'), npm_config_update_notifier: 'false', ...options.env }),
        extendEnv: false,
        reject: false,
        all: true,
        timeout: 120_000,
      });
      if (result.exitCode !== 0) {
        throw new Error(`npm publish of ${pjson.name} from ${packageDir} failed (exit ${result.exitCode}):\n${result.all}`);
      }
      return `${pjson.name}@${pjson.version}`;
    };

    return {
      url,
      port,
      dir,
      npmrc,
      authLine,
      publish,
      log: () => readFile(logFile, 'utf8').catch(() => ''),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The registry npm uses on this machine for everything outside the scope (as `npm ci` would). */
export async function machineRegistry(): Promise<string> {
  const result = await execa('npm', ['config', 'get', 'registry'], { reject: false, env: cleanEnv(), extendEnv: false });
  const url = result.stdout.trim().split('\n').pop()?.trim() ?? '';
  return /^https?:\/\//.test(url) ? url : 'https://registry.npmjs.org/';
}
