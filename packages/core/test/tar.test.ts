import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, chown, link, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as createExtract, pack as createPack, type Header } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SNAPSHOT_EXCLUDES, countBytes, filterTar, normalizeEntryPath, run } from '../src/index.js';

const BIG_FILE_BYTES = 50 * 1024 * 1024;
const UNICODE_NAME = 'notes-ünïcödé-日本語-🐍.txt';
const LONG_DIR = `${'deeply-nested-directory-name/'.repeat(5)}and-then-some`;
const isRoot = process.getuid?.() === 0;

let work: string;
let root: string;
let bigDigest: string;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Every header of an archive, in order. */
type ListedHeader = Omit<Header, 'pax'> & { pax?: Record<string, string> | null };

async function listArchive(file: string): Promise<ListedHeader[]> {
  const headers: ListedHeader[] = [];
  const extract = createExtract();
  extract.on('entry', (header, body, next) => {
    headers.push(header as ListedHeader);
    body.on('end', () => next());
    body.resume();
  });
  await pipeline(createReadStream(file), extract as unknown as Writable);
  return headers;
}

async function filterFile(input: string, output: string, excludes?: readonly string[]) {
  const filter = filterTar(excludes);
  await pipeline(createReadStream(input), filter.stream, createWriteStream(output));
  return filter.stats;
}

/** A tar archive built entry by entry, for names and fields GNU tar would not produce. */
async function synthesize(file: string, entries: { header: Header | (Partial<Header> & { name: string }); body?: string }[]) {
  const pack = createPack();
  const done = pipeline(pack as unknown as Readable, createWriteStream(file));
  for (const { header, body } of entries) {
    await new Promise<void>((resolve, reject) => {
      pack.entry(header, body ?? '', (error) => (error ? reject(error) : resolve()));
    });
  }
  pack.finalize();
  await done;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bb-tar-test-'));
  root = join(work, 'root');
  const dirs = ['etc', 'home/agent', 'tmp/sub', 'var/tmp', 'var/lib', 'proc/1', 'sys/kernel', 'dev', 'run/lock', LONG_DIR];
  for (const dir of dirs) await mkdir(join(root, dir), { recursive: true });

  const big = randomBytes(BIG_FILE_BYTES);
  bigDigest = sha256(big);
  await writeFile(join(root, 'var/lib/big.bin'), big);
  await writeFile(join(root, 'etc/hostname'), 'bottle\n');
  await writeFile(join(root, 'etc/shadow'), 'root:*:19000::::::\n');
  await chmod(join(root, 'etc/shadow'), 0o000);
  await writeFile(join(root, 'home/agent', UNICODE_NAME), 'unicode\n');
  await writeFile(join(root, LONG_DIR, 'file-at-the-end-of-a-long-path.txt'), 'long\n');
  await symlink('../etc/hostname', join(root, 'home/agent/hostname-link'));
  await symlink('/does/not/exist', join(root, 'home/agent/dangling'));
  await writeFile(join(root, 'home/agent/original'), 'shared inode\n');
  await link(join(root, 'home/agent/original'), join(root, 'home/agent/hardlink'));
  await writeFile(join(root, 'tmp/scratch'), 'scratch\n');
  await writeFile(join(root, 'tmp/sub/deeper'), 'deeper\n');
  await writeFile(join(root, 'var/tmp/cache'), 'cache\n');
  await writeFile(join(root, 'proc/1/status'), 'fake proc\n');
  await writeFile(join(root, 'run/lock/pid'), '1\n');
  await chmod(join(root, 'tmp'), 0o700);
  await chmod(join(root, 'home/agent/original'), 0o4755);
  if (isRoot) {
    await chown(join(root, 'home/agent'), 1000, 1000);
    await chown(join(root, 'tmp'), 1000, 1000);
    await chown(join(root, 'home/agent', UNICODE_NAME), 1000, 1000);
    // Beyond what a 6-digit octal ustar field holds: GNU tar writes base-256.
    await chown(join(root, 'etc/hostname'), 1_000_000, 2_000_000);
    await run(['mknod', join(root, 'dev/null'), 'c', '1', '3']);
    await run(['mkfifo', join(root, 'home/agent/fifo')]);
  }
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('normalizeEntryPath', () => {
  it.each([
    ['./tmp/', 'tmp'],
    ['./tmp', 'tmp'],
    ['tmp/', 'tmp'],
    ['tmp', 'tmp'],
    ['/tmp', 'tmp'],
    ['/tmp/', 'tmp'],
    ['./var/tmp/x', 'var/tmp/x'],
    ['var//tmp', 'var/tmp'],
    ['./', '.'],
    ['.', '.'],
    ['/', '.'],
    ['', '.'],
  ])('%j -> %j', (input, expected) => {
    expect(normalizeEntryPath(input)).toBe(expected);
  });
});

describe('filterTar on a GNU tar archive', () => {
  let output: string;
  let extracted: string;
  let stats: Awaited<ReturnType<typeof filterFile>>;
  let headers: Awaited<ReturnType<typeof listArchive>>;
  const byName = (name: string) => headers.find((header) => normalizeEntryPath(header.name) === name);

  beforeAll(async () => {
    const input = join(work, 'gnu.tar');
    // Directories first, hardlinked pair in order, like a real rootfs walk.
    await run(['tar', '-C', root, '-cf', input, '.']);
    output = join(work, 'gnu-filtered.tar');
    stats = await filterFile(input, output);
    headers = await listArchive(output);
    extracted = join(work, 'extracted');
    await mkdir(extracted);
    // GNU tar must read the result without a single complaint.
    const result = await run(['tar', '-C', extracted, '-xf', output], { stdout: 'pipe', stderr: 'pipe' });
    expect(result.stderr).toBe('');
  });

  it('keeps the excluded directories as empty entries', async () => {
    for (const dir of ['proc', 'sys', 'dev', 'run', 'tmp', 'var/tmp']) {
      expect(byName(dir)?.type, dir).toBe('directory');
      expect(await readdir(join(extracted, dir)), dir).toEqual([]);
    }
    for (const header of headers) {
      const name = normalizeEntryPath(header.name);
      for (const excluded of DEFAULT_SNAPSHOT_EXCLUDES.map(normalizeEntryPath)) {
        expect(name.startsWith(`${excluded}/`), name).toBe(false);
      }
    }
  });

  it('resets /tmp and /var/tmp to root-owned 1777', async () => {
    for (const dir of ['tmp', 'var/tmp']) {
      const header = byName(dir);
      expect(header?.mode, dir).toBe(0o1777);
      expect(header?.uid, dir).toBe(0);
      expect(header?.gid, dir).toBe(0);
      const info = await stat(join(extracted, dir));
      expect(info.mode & 0o7777, dir).toBe(0o1777);
      if (isRoot) expect(info.uid, dir).toBe(0);
    }
  });

  it('counts what it kept and dropped', () => {
    // tmp/scratch, tmp/sub, tmp/sub/deeper, var/tmp/cache, proc/1, proc/1/status, sys/kernel, run/lock, run/lock/pid (+ dev/null as root)
    expect(stats.dropped).toBe(isRoot ? 10 : 9);
    expect(stats.entries).toBe(headers.length);
    expect(stats.bytes).toBeGreaterThan(BIG_FILE_BYTES);
    expect(stats.droppedHardlinks).toBe(0);
  });

  it('streams a 50 MB file through intact', async () => {
    expect(sha256(await readFile(join(extracted, 'var/lib/big.bin')))).toBe(bigDigest);
  });

  it('keeps symlinks, dangling ones included', async () => {
    expect(await readlink(join(extracted, 'home/agent/hostname-link'))).toBe('../etc/hostname');
    expect(await readlink(join(extracted, 'home/agent/dangling'))).toBe('/does/not/exist');
  });

  it('keeps hardlinks as hardlinks', async () => {
    // Whichever of the pair tar met first holds the data; the other links to it.
    const pair = [byName('home/agent/original'), byName('home/agent/hardlink')];
    expect(pair.map((header) => header?.type).sort()).toEqual(['file', 'link']);
    const original = await stat(join(extracted, 'home/agent/original'));
    const hardlink = await stat(join(extracted, 'home/agent/hardlink'));
    expect(hardlink.ino).toBe(original.ino);
  });

  it('keeps unicode names and long paths', async () => {
    expect(await readFile(join(extracted, 'home/agent', UNICODE_NAME), 'utf8')).toBe('unicode\n');
    expect(join(LONG_DIR, 'file-at-the-end-of-a-long-path.txt').length).toBeGreaterThan(100);
    expect(await readFile(join(extracted, LONG_DIR, 'file-at-the-end-of-a-long-path.txt'), 'utf8')).toBe('long\n');
  });

  it('keeps modes, including 0 and setuid', async () => {
    expect(byName('etc/shadow')?.mode).toBe(0);
    expect(byName('home/agent/original')?.mode).toBe(0o4755);
    expect((await stat(join(extracted, 'etc/shadow'))).mode & 0o7777).toBe(0);
  });

  it.runIf(isRoot)('keeps owners, including ids too large for ustar', async () => {
    expect(byName('home/agent')?.uid).toBe(1000);
    expect(byName(`home/agent/${UNICODE_NAME}`)?.gid).toBe(1000);
    const hostname = await lstat(join(extracted, 'etc/hostname'));
    expect(hostname.uid).toBe(1_000_000);
    expect(hostname.gid).toBe(2_000_000);
  });

  it.runIf(isRoot)('keeps fifos and drops device nodes under /dev', async () => {
    expect((await lstat(join(extracted, 'home/agent/fifo'))).isFIFO()).toBe(true);
    expect(byName('dev/null')).toBeUndefined();
  });
});

describe('filterTar edge cases', () => {
  it('drops a hardlink whose first copy was in an excluded directory', async () => {
    const dir = join(work, 'hardlink-into-tmp');
    await mkdir(join(dir, 'tmp'), { recursive: true });
    await mkdir(join(dir, 'home'), { recursive: true });
    await writeFile(join(dir, 'tmp/first'), 'data\n');
    await link(join(dir, 'tmp/first'), join(dir, 'home/second'));
    const input = join(work, 'hardlink-into-tmp.tar');
    // Name tmp first so its copy is the one holding the data.
    await run(['tar', '-C', dir, '-cf', input, './tmp', './home']);
    const output = join(work, 'hardlink-into-tmp-filtered.tar');
    const stats = await filterFile(input, output);
    expect(stats.droppedHardlinks).toBe(1);
    const names = (await listArchive(output)).map((header) => normalizeEntryPath(header.name));
    expect(names).toEqual(['tmp', 'home']);
    const extracted = join(work, 'hardlink-into-tmp-out');
    await mkdir(extracted);
    await run(['tar', '-C', extracted, '-xf', output]);
  });

  it('recognises names written by busybox (no ./) and with absolute paths', async () => {
    const input = join(work, 'names.tar');
    await synthesize(input, [
      { header: { name: 'tmp/', type: 'directory', mode: 0o755 } },
      { header: { name: 'tmp/a', type: 'file', mode: 0o644 }, body: 'a' },
      { header: { name: '/var/tmp/', type: 'directory', mode: 0o700, uid: 5, gid: 5 } },
      { header: { name: '/var/tmp/b', type: 'file', mode: 0o644 }, body: 'b' },
      { header: { name: 'tmpfile', type: 'file', mode: 0o644 }, body: 'not under tmp' },
      { header: { name: 'var/tmpx/c', type: 'file', mode: 0o644 }, body: 'c' },
    ]);
    const output = join(work, 'names-filtered.tar');
    const stats = await filterFile(input, output);
    const headers = await listArchive(output);
    expect(headers.map((header) => header.name)).toEqual(['tmp/', '/var/tmp/', 'tmpfile', 'var/tmpx/c']);
    expect(headers[1]).toMatchObject({ mode: 0o1777, uid: 0, gid: 0 });
    expect(stats).toMatchObject({ entries: 4, dropped: 2 });
  });

  it('drops pax owner records from the reset /tmp but keeps its other records', async () => {
    const input = join(work, 'pax.tar');
    await synthesize(input, [
      { header: { name: 'tmp', type: 'directory', mode: 0o700, uid: 7, gid: 7, pax: { uid: '7', 'SCHILY.xattr.user.x': '1' } } },
    ]);
    const output = join(work, 'pax-filtered.tar');
    await filterFile(input, output);
    const [tmp] = await listArchive(output);
    expect(tmp?.pax).toMatchObject({ 'SCHILY.xattr.user.x': '1' });
    expect(tmp?.pax).not.toHaveProperty('uid');
    expect(tmp).toMatchObject({ mode: 0o1777, uid: 0 });
  });

  it('keeps pax records and user names too long for ustar from a POSIX-format archive', async () => {
    const dir = join(work, 'pax-src');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'file'), 'x');
    const longUser = 'a-user-name-longer-than-thirty-two-bytes';
    const input = join(work, 'posix.tar');
    await run(['tar', '-C', dir, '--format=posix', `--owner=${longUser}:4321`, '--pax-option=comment=kept', '-cf', input, './file']);
    const output = join(work, 'posix-filtered.tar');
    await filterFile(input, output);
    const [file] = await listArchive(output);
    expect(file?.pax).toMatchObject({ comment: 'kept', uname: longUser });
    expect(file?.uid).toBe(4321);
    // GNU tar agrees on the owner name.
    const listing = await run(['tar', '-tvf', output]);
    expect(listing.stdout).toContain(longUser);
  });

  it('leaves /tmp alone when it is not excluded', async () => {
    const input = join(work, 'keep-tmp.tar');
    await synthesize(input, [
      { header: { name: './tmp/', type: 'directory', mode: 0o700, uid: 9 } },
      { header: { name: './tmp/a', type: 'file', mode: 0o644 }, body: 'a' },
    ]);
    const output = join(work, 'keep-tmp-filtered.tar');
    const stats = await filterFile(input, output, ['./proc']);
    expect(stats.dropped).toBe(0);
    const [tmp] = await listArchive(output);
    expect(tmp).toMatchObject({ mode: 0o700, uid: 9 });
  });

  it('fails on a truncated archive instead of producing a short one', async () => {
    const input = join(work, 'gnu-for-truncation.tar');
    await run(['tar', '-C', root, '-cf', input, './etc', './var/lib']);
    const whole = await readFile(input);
    const filter = filterTar();
    const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    await expect(pipeline(Readable.from([whole.subarray(0, whole.length - 4096 - 1024 - 17)]), filter.stream, sink)).rejects.toThrow();
  });

  it('applies backpressure instead of buffering the archive', async () => {
    const input = join(work, 'big-only.tar');
    await run(['tar', '-C', root, '-cf', input, './var/lib/big.bin']);
    const counter = countBytes();
    const filter = filterTar();
    createReadStream(input).pipe(counter).pipe(filter.stream);
    // Nobody reads the output yet: the filter must stop pulling input long before 50 MB.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(counter.bytes).toBeGreaterThan(0);
    expect(counter.bytes).toBeLessThan(4 * 1024 * 1024);
    let out = 0;
    await pipeline(
      filter.stream,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          out += chunk.length;
          callback();
        },
      }),
    );
    expect(counter.bytes).toBe((await stat(input)).size);
    expect(out).toBeGreaterThan(BIG_FILE_BYTES);
  });

  it('reports progress as it reads', async () => {
    const input = join(work, 'progress.tar');
    await run(['tar', '-C', root, '-cf', input, './etc']);
    const seen: number[] = [];
    const filter = filterTar(DEFAULT_SNAPSHOT_EXCLUDES, (stats) => seen.push(stats.bytes));
    await pipeline(createReadStream(input), filter.stream, new Writable({ write: (_c, _e, callback) => callback() }));
    expect(seen.at(-1)).toBe((await stat(input)).size);
  });
});

describe('countBytes', () => {
  it('passes data through unchanged and counts it', async () => {
    const updates: number[] = [];
    const counter = countBytes((bytes) => updates.push(bytes));
    const chunks: Buffer[] = [];
    await pipeline(
      Readable.from([Buffer.from('hello '), Buffer.from('world')]),
      counter,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          chunks.push(chunk);
          callback();
        },
      }),
    );
    expect(Buffer.concat(chunks).toString()).toBe('hello world');
    expect(counter.bytes).toBe(11);
    expect(updates).toEqual([6, 11]);
  });
});
