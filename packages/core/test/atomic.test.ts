import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/index.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bb-atomic-test-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('creates a file with the given content and mode', async () => {
    const file = join(dir, 'state.json');
    await writeFileAtomic(file, '{"a":1}\n', 0o600);
    expect(await readFile(file, 'utf8')).toBe('{"a":1}\n');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('replaces an existing file and leaves no temporary files', async () => {
    const file = join(dir, 'state.json');
    await writeFile(file, 'old');
    await writeFileAtomic(file, new Uint8Array([110, 101, 119]));
    expect(await readFile(file, 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('never lets a reader see a partial file', async () => {
    const file = join(dir, 'state.json');
    const versions = Array.from({ length: 20 }, (_, i) => `${String(i).repeat(100_000)}\n`);
    await writeFileAtomic(file, versions[0] as string);
    const reads: Promise<string>[] = [];
    const writes = versions.map(async (content) => {
      reads.push(readFile(file, 'utf8'));
      await writeFileAtomic(file, content);
    });
    await Promise.all(writes);
    for (const text of await Promise.all(reads)) expect(versions).toContain(text);
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('fails cleanly when the directory does not exist', async () => {
    await expect(writeFileAtomic(join(dir, 'missing', 'file'), 'x')).rejects.toThrow(/ENOENT/);
    expect(await readdir(dir)).toEqual([]);
  });
});
