import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type * as lockfileModule from 'proper-lockfile';
import * as z from 'zod/mini';
import { BotBottleError, StateCorruptError, UnknownSlugError } from '../errors.js';
import { PARSE_CONTEXT } from '../parse-context.js';
import { assertValidSlug } from '../slug.js';
import { writeFileAtomic } from './atomic.js';

export const metadataSchema = z.strictObject({
  /** The slug; named identity in the seeds' state files. */
  identity: z.string(),
  agent: z.string(),
  backend: z.string(),
  cwd: z.string(),
  /** Manifest file the bottle was started from; resume reloads it. */
  manifestPath: z.optional(z.string()),
  startedAt: z.string(),
});

export type BottleMetadata = z.infer<typeof metadataSchema>;

/**
 * proper-lockfile (CommonJS, with graceful-fs, retry and signal-exit) is
 * needed only by commands that change a bottle; required on first lock.
 */
let lockfileInstance: typeof lockfileModule | undefined;
function lockfile(): typeof lockfileModule {
  lockfileInstance ??= createRequire(import.meta.url)('proper-lockfile') as typeof lockfileModule;
  return lockfileInstance;
}

const METADATA_FILE = 'metadata.json';
const COMMITTED_FILE = 'committed-image';
const PRESERVED_FILE = 'preserved';

/** `BOT_BOTTLE_HOME`, else `~/.bot-bottle`. */
export function resolveHome(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const fromEnv = env.BOT_BOTTLE_HOME;
  return fromEnv && fromEnv.length > 0 ? fromEnv : join(homedir(), '.bot-bottle');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Per-bottle state under `<home>/state/<slug>/`. Every method validates the
 * slug first, so no caller can reach outside the state directory.
 */
export class StateStore {
  readonly home: string;

  constructor(home: string = resolveHome()) {
    this.home = home;
  }

  get stateRoot(): string {
    return join(this.home, 'state');
  }

  /** Scratch space for large temporary files (archives); cleaned by whoever made them. */
  get tempRoot(): string {
    return join(this.home, 'tmp');
  }

  /** Backend caches that outlive bottles (packed artifacts keyed by digest). */
  cacheDir(backend: string): string {
    return join(this.home, 'cache', backend);
  }

  dir(slug: string): string {
    return join(this.stateRoot, assertValidSlug(slug));
  }

  async exists(slug: string): Promise<boolean> {
    return exists(join(this.dir(slug), METADATA_FILE));
  }

  async writeMetadata(metadata: BottleMetadata): Promise<void> {
    const dir = this.dir(metadata.identity);
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, METADATA_FILE), `${JSON.stringify(metadataSchema.parse(metadata, PARSE_CONTEXT), null, 2)}\n`);
  }

  /** The bottle's metadata, or undefined when the slug has no state. Corrupt files throw. */
  async readMetadata(slug: string): Promise<BottleMetadata | undefined> {
    const file = join(this.dir(slug), METADATA_FILE);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new StateCorruptError(file, `not valid JSON (${(error as Error).message})`);
    }
    const result = metadataSchema.safeParse(parsed, PARSE_CONTEXT);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new StateCorruptError(file, `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
    }
    return result.data;
  }

  /** Metadata that must exist: unknown slugs are a clear error. */
  async requireMetadata(slug: string): Promise<BottleMetadata> {
    const metadata = await this.readMetadata(slug);
    if (!metadata) {
      throw new UnknownSlugError(`no bottle named ${slug}`, {
        hint: 'run `bot-bottle list active` to see running bottles, or `bot-bottle list agents` to start one',
      });
    }
    return metadata;
  }

  async writeCommittedRef(slug: string, ref: string): Promise<void> {
    await mkdir(this.dir(slug), { recursive: true });
    await writeFileAtomic(join(this.dir(slug), COMMITTED_FILE), `${ref.trim()}\n`);
  }

  /** The committed snapshot reference; an empty or missing file reads as none. */
  async readCommittedRef(slug: string): Promise<string | undefined> {
    try {
      const value = (await readFile(join(this.dir(slug), COMMITTED_FILE), 'utf8')).trim();
      return value.length > 0 ? value : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async markPreserved(slug: string): Promise<void> {
    await mkdir(this.dir(slug), { recursive: true });
    await writeFileAtomic(join(this.dir(slug), PRESERVED_FILE), `${new Date().toISOString()}\n`);
  }

  async isPreserved(slug: string): Promise<boolean> {
    return exists(join(this.dir(slug), PRESERVED_FILE));
  }

  /** Slugs with a state directory, sorted. Entries that are not valid slugs are ignored. */
  async listSlugs(): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.stateRoot);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const slugs: string[] = [];
    for (const entry of entries) {
      if (!/^[a-z0-9-]+$/.test(entry)) continue;
      if (await exists(join(this.stateRoot, entry, METADATA_FILE))) slugs.push(entry);
    }
    return slugs.sort();
  }

  /** Remove a bottle's state unless it is preserved (or `force`). Returns whether it was removed. */
  async removeState(slug: string, options: { force?: boolean } = {}): Promise<boolean> {
    if (!options.force && (await this.isPreserved(slug))) return false;
    await rm(this.dir(slug), { recursive: true, force: true });
    return true;
  }

  /** A fresh directory under `<home>/tmp` for large temporary files. */
  async makeTempDir(prefix: string): Promise<string> {
    await mkdir(this.tempRoot, { recursive: true });
    return mkdtemp(join(this.tempRoot, `${prefix}-`));
  }

  /**
   * Run `fn` holding the per-slug lock (`state/<slug>.lock`). A second
   * holder waits up to `waitMs`, then fails with a clear error. A lock left
   * by a dead process goes stale and is taken over.
   */
  async withLock<T>(slug: string, fn: () => Promise<T>, options: { waitMs?: number } = {}): Promise<T> {
    const dir = this.dir(slug);
    await mkdir(this.stateRoot, { recursive: true });
    const waitMs = options.waitMs ?? 10 * 60_000;
    const { lock } = lockfile();
    let release: () => Promise<void>;
    try {
      release = await lock(dir, {
        realpath: false,
        lockfilePath: `${dir}.lock`,
        stale: 30_000,
        update: 5_000,
        retries: { retries: Math.max(1, Math.ceil(waitMs / 500)), minTimeout: 200, maxTimeout: 500, factor: 1.2 },
      });
    } catch (error) {
      throw new BotBottleError(`another bot-bottle process holds the lock for ${slug}`, {
        hint: `wait for it to finish; if none is running, remove ${dir}.lock`,
        cause: error,
      });
    }
    try {
      return await fn();
    } finally {
      await release();
    }
  }
}
