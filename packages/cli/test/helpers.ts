import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(CLI_ROOT, '..', '..');
/** The workspace binary (bin/dev.js: workspace backends load as oclif dev plugins). */
export const BIN = join(REPO_ROOT, 'bin', 'bot-bottle');
/** The production entry (no dev plugins): what `npm install -g` users run. */
export const RUN_JS = join(CLI_ROOT, 'bin', 'run.js');
export const FIXTURES = join(CLI_ROOT, 'test', 'fixtures');

export const ALL_COMMANDS = ['backends', 'cleanup', 'commit', 'edit', 'exec', 'info', 'init', 'list', 'logs', 'resume', 'start'] as const;

/** Fail with one clear message when the CLI has not been built. */
export function requireBuilt(): void {
  for (const file of [join(CLI_ROOT, 'dist', 'commands', 'list.js'), join(CLI_ROOT, 'oclif.manifest.json')]) {
    if (!existsSync(file)) {
      throw new Error(`${file} is missing: build first with \`npx turbo run build --filter=@bot-bottle/cli...\``);
    }
  }
}

export interface Sandbox {
  /**
   * When true, commands run through the production entry (bin/run.js) unless
   * a call says otherwise: only plugins installed or linked into this
   * sandbox's data dir load, never the workspace's real backends, so
   * `cleanup` cannot touch real bottles.
   */
  readonly production: boolean;
  readonly root: string;
  /** BOT_BOTTLE_HOME: state root is <home>/state. */
  readonly home: string;
  /** BOT_BOTTLE_DATA_DIR: where `plugins install/link` record plugins. */
  readonly data: string;
  /** A project directory to run commands in. */
  readonly project: string;
  readonly env: Record<string, string>;
  cleanup(): void;
}

export function makeSandbox(options: { production?: boolean } = {}): Sandbox {
  const root = mkdtempSync(join(tmpdir(), 'bb-cli-test-'));
  const home = join(root, 'home');
  const data = join(root, 'data');
  const project = join(root, 'project');
  mkdirSync(project, { recursive: true });
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !['DEBUG', 'NODE_ENV', 'NODE_OPTIONS', 'VISUAL', 'EDITOR'].includes(key)) env[key] = value;
  }
  Object.assign(env, {
    BOT_BOTTLE_HOME: home,
    BOT_BOTTLE_DATA_DIR: data,
    BOT_BOTTLE_CACHE_DIR: join(root, 'cache'),
    BOT_BOTTLE_CONFIG_DIR: join(root, 'config'),
    // Production for run.js; bin/dev.js switches to development itself.
    NODE_ENV: 'production',
  });
  return { production: options.production ?? false, root, home, data, project, env, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: Record<string, string>;
  /** Use the production entry (true) or the workspace binary (false) instead of the sandbox's default. */
  readonly production?: boolean;
}

/** Run the built CLI without a terminal (stdin is an empty pipe). */
export function run(sandbox: Sandbox, args: readonly string[], options: RunOptions = {}): RunResult {
  const production = options.production ?? sandbox.production;
  const [command, argv] = production ? [process.execPath, [RUN_JS, ...args]] : [BIN, [...args]];
  const result = spawnSync(command, argv, {
    cwd: options.cwd ?? sandbox.project,
    env: { ...sandbox.env, ...options.env },
    input: '',
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Link a fixture backend into the sandbox's oclif data dir, the way a user would. */
export function linkFixture(sandbox: Sandbox, name: string): void {
  const result = run(sandbox, ['plugins', 'link', join(FIXTURES, name), '--no-install']);
  if (result.status !== 0) throw new Error(`plugins link ${name} failed:\n${result.stderr}`);
}

export function writeManifest(dir: string, manifest: unknown, file = 'bot-bottle.json'): string {
  const path = join(dir, file);
  writeFileSync(path, typeof manifest === 'string' ? manifest : `${JSON.stringify(manifest, null, 2)}\n`);
  return path;
}

/** A manifest with one agent `demo` on `backend`. */
export function demoManifest(backend: string, command = 'echo hi'): unknown {
  return {
    bottles: { box: { backend, image: 'alpine:3' } },
    agents: { demo: { bottle: 'box', template: 'shell', command, env: { TOKEN: 'secret-value' }, skills: ['review'] } },
  };
}

/** Entries of a directory, or [] when it does not exist. */
export function entries(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}
