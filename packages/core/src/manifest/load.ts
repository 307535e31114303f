import { readFileSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CosmiconfigResult, Loader } from 'cosmiconfig';
import { ManifestError } from '../errors.js';
import type { Manifest } from './schema.js';
import { PACKAGE_JSON_KEY, displayPath, validateManifest } from './validate.js';

export interface LoadedManifest {
  readonly manifest: Manifest;
  /** Absolute path of the file the manifest came from. */
  readonly file: string;
  /** Its directory; relative paths in the manifest resolve against it. */
  readonly dir: string;
}

export interface LoadManifestOptions {
  /** Load exactly this file (relative to `fromDir`) instead of searching. */
  readonly file?: string;
}

/**
 * Files tried in each directory, first match wins. A dedicated file beats
 * the package.json key, so a project can move its manifest out of
 * package.json without deleting the key first.
 */
export const MANIFEST_SEARCH_PLACES = [
  'bot-bottle.json',
  '.bot-bottlerc',
  '.bot-bottlerc.json',
  '.bot-bottlerc.yaml',
  '.bot-bottlerc.yml',
  'bot-bottle.config.js',
  'bot-bottle.config.mjs',
  'bot-bottle.config.ts',
  'package.json',
] as const;

const INIT_HINT = 'run `bot-bottle init` to create a bot-bottle.json here';

/**
 * Load a JavaScript or TypeScript manifest with a plain `import()`. Node
 * >= 22.18 strips TypeScript types itself, so no compiler is needed; the
 * mtime query makes an edited file load fresh in a long-lived process.
 */
async function importManifestModule(filepath: string): Promise<unknown> {
  const url = pathToFileURL(filepath);
  url.search = `mtime=${Math.trunc((await stat(filepath)).mtimeMs)}`;
  let module: Record<string, unknown>;
  try {
    module = (await import(/* @vite-ignore */ url.href)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const shown = displayPath(filepath);
    if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && extname(filepath) === '.ts') {
      throw new ManifestError(`${shown}: this Node.js (${process.version}) cannot load TypeScript files`, {
        file: filepath,
        hint: 'use Node.js >= 22.18, which strips types natively, or rename the file to bot-bottle.config.mjs',
        cause: error,
      });
    }
    if (code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX') {
      throw new ManifestError(`${shown}: uses TypeScript syntax Node.js cannot strip (${(error as Error).message})`, {
        file: filepath,
        hint: 'keep the manifest to erasable syntax: no enums, namespaces or parameter properties',
        cause: error,
      });
    }
    throw new ManifestError(`${shown}: could not be loaded: ${(error as Error).message}`, { file: filepath, cause: error });
  }
  if (!('default' in module)) {
    throw new ManifestError(`${displayPath(filepath)}: has no default export`, {
      file: filepath,
      hint: 'export the manifest as `export default { bottles: { … }, agents: { … } }`',
    });
  }
  return module.default;
}

const moduleLoader: Loader = (filepath) => importManifestModule(filepath);

async function createExplorer() {
  // Loaded only when the fast path below cannot answer (YAML, JS and TS
  // manifests, package.json keys, anything unusual): cosmiconfig and its
  // JSON/YAML parsers are some 30 modules. cosmiconfig is CommonJS: its
  // exports are read from `default`, the one shape Node and a bundler (the
  // CLI ships bundled by esbuild) both give a dynamically imported CommonJS
  // module.
  const { cosmiconfig, defaultLoaders } = (await import('cosmiconfig')).default;
  return cosmiconfig(PACKAGE_JSON_KEY, {
    searchPlaces: [...MANIFEST_SEARCH_PLACES],
    // We walk the directories ourselves (see ancestors): cosmiconfig's
    // "global" strategy would also read ~/.config, which is not a project.
    searchStrategy: 'none',
    // An empty bot-bottle.json is a mistake to report, not a file to skip.
    ignoreEmptySearchPlaces: false,
    cache: false,
    loaders: {
      ...defaultLoaders,
      '.js': moduleLoader,
      '.mjs': moduleLoader,
      '.ts': moduleLoader,
    },
  });
}

function* ancestors(start: string): Generator<string> {
  let current = start;
  while (true) {
    yield current;
    const parent = dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

/** Parse errors (bad JSON or YAML) come from cosmiconfig's loaders; name the file and keep their detail. */
function wrapLoadError(error: unknown, file: string | undefined): never {
  if (error instanceof ManifestError) throw error;
  const code = (error as NodeJS.ErrnoException).code;
  if (file && code === 'ENOENT') {
    throw new ManifestError(`manifest file ${displayPath(file)} does not exist`, { file, hint: INIT_HINT, cause: error });
  }
  const message = (error as Error).message ?? String(error);
  if (file && message.startsWith('No loader specified')) {
    throw new ManifestError(`${displayPath(file)}: bot-bottle cannot read this kind of file`, {
      file,
      hint: 'use a .json, .yaml, .yml, .js, .mjs or .ts manifest',
      cause: error,
    });
  }
  // cosmiconfig's JSON and YAML loaders prefix the file they failed on.
  const prefixed = /^(?:JSON|YAML) Error in (.*):\n/.exec(message);
  const failedFile = file ?? prefixed?.[1];
  const detail = prefixed ? message.slice(prefixed[0].length) : message;
  const shown = failedFile ? `${displayPath(failedFile)}: ` : '';
  throw new ManifestError(`${shown}could not be parsed: ${detail}`, { file: failedFile, cause: error });
}

function toLoaded(result: { readonly config: unknown; readonly filepath: string }): LoadedManifest {
  const file = resolve(result.filepath);
  return { manifest: validateManifest(result.config, file), file, dir: dirname(file) };
}

/*
 * Fast path. Most projects keep their manifest in a plain bot-bottle.json,
 * and reading one needs neither cosmiconfig nor its parsers. The fast path
 * answers only when cosmiconfig would provably find the same file and
 * produce the same value; in every other case it returns FALL_BACK and the
 * search runs through cosmiconfig exactly as before, from the start. What it
 * must rule out:
 *   - a cosmiconfig "meta config" in the working directory (package.json
 *     with a "cosmiconfig" key, package.yaml, .config/config.*), which can
 *     change the search places or supply the configuration itself;
 *   - a search place before bot-bottle.json's directory that exists (other
 *     than a package.json without our key, which cosmiconfig skips);
 *   - content cosmiconfig treats specially: empty, not JSON (its parser
 *     words the error), null or not an object, or an `$import` key.
 * For valid JSON, cosmiconfig's parse-json returns exactly JSON.parse's
 * value. The checks are a handful of stat and read calls on small files,
 * done synchronously: one event-loop turn instead of one per file.
 */
const FALL_BACK = Symbol('fall back to cosmiconfig');
type FastResult = { readonly config: unknown; readonly filepath: string } | null | typeof FALL_BACK;

/** cosmiconfig's meta-config places, looked up in process.cwd() whenever an explorer is created. */
const META_CONFIG_PLACES = [
  'package.json',
  'package.yaml',
  '.config/config.json',
  '.config/config.yaml',
  '.config/config.yml',
  '.config/config.js',
  '.config/config.ts',
  '.config/config.cjs',
  '.config/config.mjs',
] as const;

function errorCode(error: unknown): unknown {
  return (error as NodeJS.ErrnoException | null)?.code;
}

/**
 * The file's text; undefined when nothing is there (ENOENT); FALL_BACK for
 * anything else (a directory, no permission, a file where a directory
 * should be), where cosmiconfig has its own rules.
 */
function readIfPresent(file: string): string | undefined | typeof FALL_BACK {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    return errorCode(error) === 'ENOENT' ? undefined : FALL_BACK;
  }
}

/** True when nothing is there, false when something is; FALL_BACK when stat fails another way. */
function isAbsent(file: string): boolean | typeof FALL_BACK {
  try {
    statSync(file);
    return false;
  } catch (error) {
    return errorCode(error) === 'ENOENT' ? true : FALL_BACK;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON text as cosmiconfig's JSON loader would return it, or FALL_BACK when cosmiconfig would do more than parse. */
function parsePlainJsonConfig(text: string): Record<string, unknown> | typeof FALL_BACK {
  if (text.trim() === '') return FALL_BACK;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return FALL_BACK;
  }
  return isPlainObject(value) && !Object.hasOwn(value, '$import') ? value : FALL_BACK;
}

/** A package.json that cosmiconfig would read and skip: valid JSON, an object, none of `key`. */
function isPackageJsonWithout(file: string, key: string): boolean | typeof FALL_BACK {
  const text = readIfPresent(file);
  if (text === undefined || text === FALL_BACK) return text === undefined ? true : FALL_BACK;
  const value = parsePlainJsonConfig(text);
  return value !== FALL_BACK && !Object.hasOwn(value, key) ? true : FALL_BACK;
}

/** True when cosmiconfig would find no meta config in the working directory. */
function noMetaConfig(): boolean {
  const cwd = process.cwd();
  for (const place of META_CONFIG_PLACES) {
    const file = join(cwd, place);
    const absent = place === 'package.json' ? isPackageJsonWithout(file, 'cosmiconfig') : isAbsent(file);
    if (absent !== true) return false;
  }
  return true;
}

/** `explorer.load(file)` for a plain JSON manifest. */
function fastLoad(file: string): FastResult {
  if (extname(file) !== '.json' || basename(file) === 'package.json') return FALL_BACK;
  if (!noMetaConfig()) return FALL_BACK;
  const text = readIfPresent(file);
  if (text === undefined || text === FALL_BACK) return FALL_BACK;
  const config = parsePlainJsonConfig(text);
  return config === FALL_BACK ? FALL_BACK : { config, filepath: file };
}

/** The whole upward search, when every directory holds either nothing or a plain bot-bottle.json. */
function fastSearch(start: string): FastResult {
  if (!noMetaConfig()) return FALL_BACK;
  for (const dir of ancestors(start)) {
    const [first, ...rest] = MANIFEST_SEARCH_PLACES;
    const file = join(dir, first);
    const text = readIfPresent(file);
    if (text === FALL_BACK) return FALL_BACK;
    if (text !== undefined) {
      const config = parsePlainJsonConfig(text);
      return config === FALL_BACK ? FALL_BACK : { config, filepath: file };
    }
    for (const place of rest) {
      const path = join(dir, place);
      const absent = place === 'package.json' ? isPackageJsonWithout(path, PACKAGE_JSON_KEY) : isAbsent(path);
      if (absent !== true) return FALL_BACK;
    }
  }
  return null;
}

function notFound(start: string): ManifestError {
  return new ManifestError(`no bot-bottle manifest found in ${start} or any directory above it`, {
    hint: `${INIT_HINT} (looked for ${MANIFEST_SEARCH_PLACES.join(', ')})`,
  });
}

/**
 * Find and validate the manifest: the nearest one from `fromDir` upward,
 * or exactly `options.file` when given.
 */
export async function loadManifest(fromDir: string, options: LoadManifestOptions = {}): Promise<LoadedManifest> {
  const start = resolve(fromDir);

  if (options.file !== undefined) {
    const file = resolve(start, options.file);
    const fast = fastLoad(file);
    if (fast !== FALL_BACK && fast !== null) return toLoaded(fast);
    const explorer = await createExplorer();
    let result: CosmiconfigResult;
    try {
      result = await explorer.load(file);
    } catch (error) {
      wrapLoadError(error, file);
    }
    if (result === null) {
      // Only package.json without our key loads as null.
      throw new ManifestError(`${displayPath(file)} has no "${PACKAGE_JSON_KEY}" key`, { file, hint: INIT_HINT });
    }
    return toLoaded(result);
  }

  const fast = fastSearch(start);
  if (fast === null) throw notFound(start);
  if (fast !== FALL_BACK) return toLoaded(fast);

  const explorer = await createExplorer();
  for (const dir of ancestors(start)) {
    let result: CosmiconfigResult;
    try {
      result = await explorer.search(dir);
    } catch (error) {
      wrapLoadError(error, undefined);
    }
    if (result) return toLoaded(result);
  }
  throw notFound(start);
}
