/**
 * @bot-bottle/create-backend: scaffold a bot-bottle backend package from
 * the template in ../template, with the contract suite wired and the
 * `botBottle` declaration, peer dependency and contract range filled in for
 * the @bot-bottle/core this package was released with.
 */
import { createRequire } from 'node:module';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTRACT_VERSION } from '@bot-bottle/core';

/** Where the template lives in this package. */
export const TEMPLATE_DIR = fileURLToPath(new URL('../template/', import.meta.url));

/** Backend names obey the slug alphabet (they end up in labels and file names). */
export const BACKEND_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const PACKAGE_NAME_PATTERN = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;
const PACKAGE_PREFIX = 'bot-bottle-backend-';

/** Files whose name in the template differs from the generated one (npm drops .gitignore from tarballs). */
const RENAMES: Readonly<Record<string, string>> = { _gitignore: '.gitignore', '_package.json': 'package.json' };

export interface GenerateOptions {
  /** Directory to create the package in (must not exist, or be empty). */
  readonly dir: string;
  /** Backend name manifests use (`"backend": NAME`); default from the directory name. */
  readonly backendName?: string;
  /** npm package name; default `bot-bottle-backend-<backendName>`. */
  readonly packageName?: string;
}

export interface GenerateResult {
  readonly dir: string;
  readonly backendName: string;
  readonly packageName: string;
  /** The `@bot-bottle/core` range written as peer and dev dependency. */
  readonly coreRange: string;
  /** The `botBottle.contract` range. */
  readonly contractRange: string;
  /** Generated files, relative to `dir`. */
  readonly files: readonly string[];
}

export class CreateBackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CreateBackendError';
  }
}

/** The version of the @bot-bottle/core this package depends on (and so was tested with). */
export function coreVersion(): string {
  const require = createRequire(import.meta.url);
  const pjson = require('@bot-bottle/core/package.json') as { version: string };
  return pjson.version;
}

/** `^MAJOR.MINOR.0` below 1.0 (where a minor is breaking), `^MAJOR.0.0` from 1.0 on. */
export function caretRange(version: string): string {
  const [major = '0', minor = '0'] = version.split('.');
  return major === '0' ? `^0.${minor}.0` : `^${major}.0.0`;
}

/** Names derived from a target directory: `./bot-bottle-backend-podman` and `./podman` both give backend `podman`. */
export function defaultNames(dir: string): { backendName: string; packageName: string } {
  const base = basename(resolve(dir)).toLowerCase();
  const backendName = base.startsWith(PACKAGE_PREFIX) ? base.slice(PACKAGE_PREFIX.length) : base.replace(/^backend-/, '');
  return { backendName, packageName: `${PACKAGE_PREFIX}${backendName}` };
}

/** `my-runtime` -> `MyRuntime`. */
export function className(backendName: string): string {
  const words = backendName.split('-').filter(Boolean);
  const name = words.map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join('');
  return /^[0-9]/.test(name) ? `Backend${name}` : name;
}

async function templateFiles(dir: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) files.push(...(await templateFiles(join(dir, entry.name), rel)));
    else if (entry.isFile()) files.push(rel);
  }
  return files;
}

async function ensureEmptyDir(dir: string): Promise<void> {
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) throw new CreateBackendError(`${dir} exists and is not a directory`);
    const entries = (await readdir(dir)).filter((name) => name !== '.git');
    if (entries.length > 0) throw new CreateBackendError(`${dir} is not empty; choose a new directory`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await mkdir(dir, { recursive: true });
  }
}

/** Generate a backend package into `options.dir`. */
export async function generateBackend(options: GenerateOptions): Promise<GenerateResult> {
  const dir = resolve(options.dir);
  const defaults = defaultNames(dir);
  const backendName = options.backendName ?? defaults.backendName;
  const packageName = options.packageName ?? (options.backendName ? `${PACKAGE_PREFIX}${backendName}` : defaults.packageName);
  if (!BACKEND_NAME_PATTERN.test(backendName)) {
    throw new CreateBackendError(`"${backendName}" is not a valid backend name: use a-z, 0-9 and "-" (pass --name)`);
  }
  if (!PACKAGE_NAME_PATTERN.test(packageName) || packageName.length > 214) {
    throw new CreateBackendError(`"${packageName}" is not a valid npm package name (pass --package)`);
  }
  await ensureEmptyDir(dir);

  const contractMajor = CONTRACT_VERSION.split('.')[0] ?? '1';
  const values: Readonly<Record<string, string>> = {
    __PACKAGE_NAME__: packageName,
    __BACKEND_NAME__: backendName,
    __CLASS__: className(backendName),
    __CORE_RANGE__: caretRange(coreVersion()),
    __CONTRACT_RANGE__: `^${contractMajor}.0.0`,
  };
  const written: string[] = [];
  for (const file of await templateFiles(TEMPLATE_DIR)) {
    const parts = file.split('/');
    const last = parts.pop() ?? file;
    const target = [...parts, RENAMES[last] ?? last].join('/');
    let text = await readFile(join(TEMPLATE_DIR, file), 'utf8');
    for (const [placeholder, value] of Object.entries(values)) text = text.replaceAll(placeholder, value);
    await mkdir(join(dir, ...parts), { recursive: true });
    await writeFile(join(dir, target), text);
    written.push(target);
  }
  return {
    dir,
    backendName,
    packageName,
    coreRange: values.__CORE_RANGE__!,
    contractRange: values.__CONTRACT_RANGE__!,
    files: written.sort(),
  };
}

/** What to do next, for the command's output. */
export function nextSteps(result: GenerateResult, cwd = process.cwd()): string {
  const where = relative(cwd, result.dir) || '.';
  return [
    `created ${result.packageName} (backend "${result.backendName}", contract ${result.contractRange}, @bot-bottle/core ${result.coreRange}) in ${where}`,
    '',
    'next:',
    `  cd ${where}`,
    '  npm install',
    '  npm run typecheck',
    '  npm test            # the contract suite; fill in the TODOs in src/ until it passes',
    '  bot-bottle plugins link .',
  ].join('\n');
}
