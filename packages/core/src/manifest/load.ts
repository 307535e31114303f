import { stat } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cosmiconfig, defaultLoaders, type CosmiconfigResult, type Loader } from 'cosmiconfig';
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

function createExplorer() {
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

function toLoaded(result: NonNullable<CosmiconfigResult>): LoadedManifest {
  const file = resolve(result.filepath);
  return { manifest: validateManifest(result.config, file), file, dir: dirname(file) };
}

/**
 * Find and validate the manifest: the nearest one from `fromDir` upward,
 * or exactly `options.file` when given.
 */
export async function loadManifest(fromDir: string, options: LoadManifestOptions = {}): Promise<LoadedManifest> {
  const explorer = createExplorer();
  const start = resolve(fromDir);

  if (options.file !== undefined) {
    const file = resolve(start, options.file);
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

  for (const dir of ancestors(start)) {
    let result: CosmiconfigResult;
    try {
      result = await explorer.search(dir);
    } catch (error) {
      wrapLoadError(error, undefined);
    }
    if (result) return toLoaded(result);
  }
  throw new ManifestError(`no bot-bottle manifest found in ${start} or any directory above it`, {
    hint: `${INIT_HINT} (looked for ${MANIFEST_SEARCH_PLACES.join(', ')})`,
  });
}
