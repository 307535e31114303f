/**
 * A brand-new user on this machine: fresh HOME, npm prefix and npm cache.
 * The `@bot-bottle` scope resolves to the local registry (through
 * ~/.npmrc, so the npm that `bot-bottle plugins install` runs sees it too);
 * everything else comes from the machine's normal registry.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { cleanEnv, SCOPE, type LocalRegistry } from './verdaccio.js';

/** What a finished command left behind. */
export interface Ran {
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr interleaved. */
  readonly all: string;
}

async function ran(promise: Promise<{ exitCode?: number; stdout?: unknown; stderr?: unknown; all?: unknown }>): Promise<Ran> {
  const result = await promise;
  return { exitCode: result.exitCode, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), all: String(result.all ?? '') };
}

export interface UserEnv {
  readonly root: string;
  readonly home: string;
  readonly prefix: string;
  readonly cache: string;
  /** BOT_BOTTLE_HOME of this user. */
  readonly stateHome: string;
  /** Where oclif keeps user-installed plugins (`~/.local/share/bot-bottle`). */
  readonly dataDir: string;
  readonly env: NodeJS.ProcessEnv;
  /** The global install's `bot-bottle`. */
  readonly bin: string;
  /** The global install's package directory of @bot-bottle/cli. */
  readonly cliDir: string;
  npm(args: readonly string[], options?: { cwd?: string; timeoutMs?: number }): Promise<Ran>;
  /** Run the installed `bot-bottle`. Never throws for a non-zero exit. */
  cli(args: readonly string[], options?: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Ran>;
  remove(): Promise<void>;
}

export async function createUserEnv(registry: LocalRegistry, upstream: string): Promise<UserEnv> {
  const root = await mkdtemp(join(tmpdir(), 'bot-bottle-user-'));
  const home = join(root, 'home');
  const prefix = join(root, 'prefix');
  const cache = join(root, 'npm-cache');
  const stateHome = join(root, 'bot-bottle-home');
  for (const dir of [home, prefix, cache, stateHome]) await mkdir(dir, { recursive: true });
  const userconfig = join(home, '.npmrc');
  await writeFile(
    userconfig,
    [
      `registry=${upstream}`,
      `${SCOPE}:registry=${registry.url}`,
      'fund=false',
      'audit=false',
      'update-notifier=false',
      '',
    ].join('\n'),
  );
  const env = cleanEnv({
    HOME: home,
    BOT_BOTTLE_HOME: stateHome,
    npm_config_userconfig: userconfig,
    npm_config_globalconfig: join(prefix, 'etc', 'npmrc'),
    npm_config_prefix: prefix,
    npm_config_cache: cache,
  });
  env.PATH = `${join(prefix, 'bin')}:${env.PATH ?? ''}`;

  const bin = join(prefix, 'bin', 'bot-bottle');
  return {
    root,
    home,
    prefix,
    cache,
    stateHome,
    dataDir: join(home, '.local', 'share', 'bot-bottle'),
    env,
    bin,
    cliDir: join(prefix, 'lib', 'node_modules', '@bot-bottle', 'cli'),
    npm: (args, options = {}) =>
      ran(execa('npm', [...args], {
        cwd: options.cwd ?? home,
        env,
        extendEnv: false,
        reject: false,
        all: true,
        stdin: 'ignore',
        timeout: options.timeoutMs ?? 300_000,
      })),
    cli: (args, options = {}) =>
      ran(execa(bin, [...args], {
        cwd: options.cwd ?? home,
        env: { ...env, ...options.env },
        extendEnv: false,
        reject: false,
        all: true,
        stdin: 'ignore',
        timeout: options.timeoutMs ?? 300_000,
      })),
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

export interface InstalledPackage {
  readonly name: string;
  readonly version: string;
  /** Path relative to the tree root. */
  readonly path: string;
}

/** Every package under `dir/node_modules`, nested ones included (what an install tree really holds). */
export async function installedPackages(dir: string): Promise<InstalledPackage[]> {
  const found: InstalledPackage[] = [];
  async function walk(modules: string, rel: string): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(modules);
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.startsWith('.')) continue;
      const names = entry.startsWith('@') ? (await readdir(join(modules, entry)).catch(() => [])).map((n) => `${entry}/${n}`) : [entry];
      for (const name of names) {
        const pkgDir = join(modules, name);
        try {
          const pjson = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { version?: string };
          found.push({ name, version: pjson.version ?? '?', path: `${rel}node_modules/${name}` });
        } catch {
          continue;
        }
        await walk(join(pkgDir, 'node_modules'), `${rel}node_modules/${name}/`);
      }
    }
  }
  await walk(join(dir, 'node_modules'), '');
  return found;
}
