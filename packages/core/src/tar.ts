import { createRequire } from 'node:module';
import { Duplex, Transform, type TransformCallback } from 'node:stream';
import { posix } from 'node:path';
import type * as TarStream from 'tar-stream';
import type { ExtractEvents, Header } from 'tar-stream';
import { BotBottleError } from './errors.js';

/**
 * tar-stream (CommonJS, with streamx and friends) is needed only while a
 * snapshot streams, so it is required on first use rather than when this
 * package's index loads. `require` keeps {@link filterTar} synchronous.
 */
let tarStreamModule: typeof TarStream | undefined;
function tarStream(): typeof TarStream {
  tarStreamModule ??= createRequire(import.meta.url)('tar-stream') as typeof TarStream;
  return tarStreamModule;
}

/**
 * Directories a snapshot leaves empty: kernel filesystems, runtime state
 * and scratch space. Their own entries stay (as mount points), only their
 * contents go.
 */
export const DEFAULT_SNAPSHOT_EXCLUDES: readonly string[] = ['./proc', './sys', './dev', './run', './tmp', './var/tmp'];

/**
 * Temp directories whose kept entry is reset to root-owned 1777: a runtime
 * that remaps owners (smolvm) would otherwise resume with a /tmp the agent
 * user cannot write.
 */
const STICKY_TEMP_DIRS: ReadonlySet<string> = new Set(['tmp', 'var/tmp']);

export interface TarFilterStats {
  /** Bytes of the input archive consumed so far. */
  bytes: number;
  /** Entries written to the output. */
  entries: number;
  /** Entries left out (contents of excluded directories, hardlinks to them). */
  dropped: number;
  /**
   * Of `dropped`, hardlinks outside the excluded directories whose first
   * copy was inside one: their data is gone, so callers may want to warn.
   */
  droppedHardlinks: number;
}

export interface TarFilter {
  /** Write a tar archive in, read the filtered archive out. */
  readonly stream: Duplex;
  /** Live counters, updated while the archive streams. */
  readonly stats: TarFilterStats;
}

/**
 * tar-stream's header as the extractor actually produces it: its typings
 * leave out that `type` is null for entry types it does not know, and that
 * `pax` holds the entry's pax records.
 */
/** The stream of one entry's data. */
type EntryBody = ExtractEvents['entry'][1];

type TarHeader = Omit<Header, 'type' | 'pax'> & {
  type: Header['type'] | null;
  pax?: Record<string, string> | null;
};

/** Largest value of a 6-digit octal ustar field (uid, gid); tar-stream cannot write more. */
const MAX_USTAR_ID = 0o777777;
/** ustar uname/gname fields are 32 bytes; longer names go to pax. */
const MAX_USTAR_NAME_BYTES = 32;
/**
 * tar-stream replaces a mode of 0 with its default (0644), which would make
 * e.g. a mode-000 /etc/shadow world-readable. Any bit above 07777 keeps the
 * value truthy and is masked off when the header is encoded.
 */
const ZERO_MODE_SENTINEL = 0o100000;

/**
 * One canonical form for an entry name, whatever tool wrote the archive:
 * GNU tar writes `./etc/`, busybox `etc/`, bsdtar with -P `/etc`. Returns
 * `etc` (no leading `./` or `/`, no trailing `/`); the root is `.`.
 */
export function normalizeEntryPath(name: string): string {
  const trimmed = name.replace(/^\/+/, '');
  if (trimmed.length === 0) return '.';
  const normalized = posix.normalize(trimmed).replace(/\/+$/, '');
  return normalized.length === 0 ? '.' : normalized;
}

function isBelow(path: string, prefix: string): boolean {
  return prefix === '.' ? path !== '.' : path.startsWith(`${prefix}/`);
}

function isKnownType(header: TarHeader): header is TarHeader & { type: Header['type'] } {
  return header.type !== null && header.type !== undefined;
}

function hasBody(header: TarHeader): boolean {
  return header.type === 'file' || header.type === 'contiguous-file';
}

/**
 * The header to write for a kept entry. Most fields pass through
 * untouched; this works around what tar-stream's encoder would otherwise
 * lose: large ids and long user names move to pax records, a zero mode
 * survives, and path/linkpath/size records are dropped because the
 * encoder derives them from the header itself.
 */
function toOutputHeader(header: TarHeader & { type: Header['type'] }, makeStickyTemp: boolean): Header {
  const pax: Record<string, string> = { ...(header.pax ?? {}) };
  delete pax.path;
  delete pax.linkpath;
  delete pax.size;
  let { mode = 0, uid = 0, gid = 0, uname = '', gname = '' } = header;

  if (makeStickyTemp) {
    mode = 0o1777;
    uid = 0;
    gid = 0;
    uname = 'root';
    gname = 'root';
    for (const key of ['uid', 'gid', 'uname', 'gname']) delete pax[key];
  }
  if (uid > MAX_USTAR_ID) pax.uid = String(uid);
  if (gid > MAX_USTAR_ID) pax.gid = String(gid);
  if (Buffer.byteLength(uname) > MAX_USTAR_NAME_BYTES) {
    pax.uname = uname;
    uname = '';
  }
  if (Buffer.byteLength(gname) > MAX_USTAR_NAME_BYTES) {
    pax.gname = gname;
    gname = '';
  }
  let mtime = header.mtime ?? new Date(0);
  if (mtime.getTime() < 0) {
    pax.mtime ??= String(Math.floor(mtime.getTime() / 1000));
    mtime = new Date(0);
  }

  return {
    ...header,
    mode: mode === 0 ? ZERO_MODE_SENTINEL : mode,
    uid: Math.min(uid, MAX_USTAR_ID),
    gid: Math.min(gid, MAX_USTAR_ID),
    uname,
    gname,
    mtime,
    size: hasBody(header) ? header.size : 0,
    pax: Object.keys(pax).length > 0 ? pax : null,
  };
}

type Verdict = { keep: false; danglingHardlink: boolean } | { keep: true; makeStickyTemp: boolean };

function classify(header: TarHeader, excludes: readonly string[]): Verdict {
  const path = normalizeEntryPath(header.name);
  for (const prefix of excludes) {
    if (isBelow(path, prefix)) return { keep: false, danglingHardlink: false };
  }
  // A hardlink names an earlier entry; when that entry was dropped the link
  // would point at nothing and break extraction, so it goes too.
  if (header.type === 'link' && header.linkname) {
    const target = normalizeEntryPath(header.linkname);
    if (excludes.some((prefix) => isBelow(target, prefix))) return { keep: false, danglingHardlink: true };
  }
  const makeStickyTemp = header.type === 'directory' && STICKY_TEMP_DIRS.has(path) && excludes.includes(path);
  return { keep: true, makeStickyTemp };
}

/**
 * A Node Duplex around tar-stream's extract (writable side) and pack
 * (readable side). Backpressure runs end to end: when our reader stops,
 * pack's buffer fills, the entry being copied pauses, extract stops
 * accepting writes and our `_write` callback waits for its drain.
 */
class TarFilterStream extends Duplex {
  readonly #extract = tarStream().extract();
  readonly #pack = tarStream().pack();

  constructor(
    private readonly excludes: readonly string[],
    private readonly stats: TarFilterStats,
    private readonly onProgress: ((stats: TarFilterStats) => void) | undefined,
  ) {
    super();
    this.#extract.on('entry', (header, body, next) => this.#onEntry(header as TarHeader, body, next));
    this.#extract.on('error', (error: Error) => this.destroy(error));
    this.#pack.on('error', (error: Error) => this.destroy(error));
    this.#pack.on('data', (chunk) => {
      if (!this.push(chunk)) this.#pack.pause();
    });
    this.#pack.on('end', () => this.push(null));
  }

  #onEntry(header: TarHeader, body: EntryBody, next: (error?: Error | null) => void): void {
    if (!isKnownType(header)) {
      next(
        new BotBottleError(`tar entry ${header.name} has a type bot-bottle cannot copy (GNU sparse or multi-volume)`, {
          hint: 'create the archive without --sparse and without multi-volume options',
        }),
      );
      return;
    }
    const verdict = classify(header, this.excludes);
    if (!verdict.keep) {
      this.stats.dropped += 1;
      if (verdict.danglingHardlink) this.stats.droppedHardlinks += 1;
      body.on('end', () => next());
      body.resume();
      return;
    }
    this.stats.entries += 1;
    const sink = this.#pack.entry(toOutputHeader(header, verdict.makeStickyTemp), (error) => next(error));
    if (hasBody(header)) {
      body.pipe(sink);
    } else {
      // Links, directories and devices carry no data; drain any stray bytes so extraction moves on.
      body.resume();
    }
  }

  override _read(): void {
    this.#pack.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.stats.bytes += chunk.length;
    this.onProgress?.(this.stats);
    if (this.#extract.write(chunk)) callback();
    else this.#extract.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    // Once every entry has been handed to pack, close the archive.
    this.#extract.once('finish', () => {
      this.#pack.finalize();
      callback();
    });
    this.#extract.end(undefined);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#extract.destroy();
    this.#pack.destroy();
    callback(error);
  }
}

/**
 * Stream a tar archive through, leaving out everything below the excluded
 * directories (the directories themselves stay, empty) and resetting
 * /tmp and /var/tmp to root-owned 1777. Never holds more than a few
 * buffers of the archive in memory.
 */
export function filterTar(
  excludes: readonly string[] = DEFAULT_SNAPSHOT_EXCLUDES,
  onProgress?: (stats: TarFilterStats) => void,
): TarFilter {
  const stats: TarFilterStats = { bytes: 0, entries: 0, dropped: 0, droppedHardlinks: 0 };
  const normalized = excludes.map(normalizeEntryPath);
  return { stream: new TarFilterStream(normalized, stats, onProgress), stats };
}

/** A pass-through stream that counts the bytes flowing through it, for progress lines. */
export class ByteCounter extends Transform {
  bytes = 0;

  constructor(private readonly onProgress?: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.onProgress?.(this.bytes);
    callback(null, chunk);
  }
}

export function countBytes(onProgress?: (bytes: number) => void): ByteCounter {
  return new ByteCounter(onProgress);
}
