import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidSlugError, StateCorruptError, StateStore, UnknownSlugError, resolveHome, type BottleMetadata } from '../src/index.js';

let home: string;
let store: StateStore;

const metadata = (slug: string): BottleMetadata => ({
  identity: slug,
  agent: 'demo',
  backend: 'docker',
  cwd: '/home/me/project',
  manifestPath: '/home/me/project/bot-bottle.json',
  startedAt: '2026-01-01T00:00:00.000Z',
});

/** Every file under a directory, relative, recursively. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.map(String).sort();
}

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'bb-store-test-'));
  store = new StateStore(home);
});

afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('resolveHome', () => {
  it('uses BOT_BOTTLE_HOME, else ~/.bot-bottle', () => {
    expect(resolveHome({ BOT_BOTTLE_HOME: '/custom' })).toBe('/custom');
    expect(resolveHome({ BOT_BOTTLE_HOME: '' })).toMatch(/\.bot-bottle$/);
    expect(resolveHome({})).toMatch(/\.bot-bottle$/);
  });
});

describe('StateStore', () => {
  it('writes and reads metadata, leaving no temporary files', async () => {
    await store.writeMetadata(metadata('demo-abc12'));
    await store.writeMetadata({ ...metadata('demo-abc12'), startedAt: '2026-02-02T00:00:00.000Z' });
    expect(await store.readMetadata('demo-abc12')).toEqual({ ...metadata('demo-abc12'), startedAt: '2026-02-02T00:00:00.000Z' });
    expect(await store.exists('demo-abc12')).toBe(true);
    expect(await listTree(store.stateRoot)).toEqual(['demo-abc12', 'demo-abc12/metadata.json']);
  });

  it('reads an unknown slug as no metadata, and requireMetadata names it', async () => {
    expect(await store.readMetadata('nobody-00000')).toBeUndefined();
    const error = await store.requireMetadata('nobody-00000').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnknownSlugError);
    expect((error as Error).message).toContain('nobody-00000');
  });

  it('reports corrupt metadata.json as a clear error naming the file', async () => {
    const dir = join(store.stateRoot, 'demo-abc12');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'metadata.json'), '{ "identity": "demo-abc12", ');
    const error = await store.readMetadata('demo-abc12').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StateCorruptError);
    expect((error as StateCorruptError).file).toBe(join(dir, 'metadata.json'));
    expect((error as Error).message).toContain(join(dir, 'metadata.json'));
    expect((error as Error).message).toContain('not valid JSON');

    await writeFile(join(dir, 'metadata.json'), JSON.stringify({ identity: 'demo-abc12' }));
    await expect(store.readMetadata('demo-abc12')).rejects.toThrow(/metadata\.json is corrupt: agent/);
  });

  it('records the committed ref; an empty file reads as none', async () => {
    expect(await store.readCommittedRef('demo-abc12')).toBeUndefined();
    await store.writeCommittedRef('demo-abc12', 'bot-bottle-committed-demo-abc12:latest\n');
    expect(await store.readCommittedRef('demo-abc12')).toBe('bot-bottle-committed-demo-abc12:latest');
    await writeFile(join(store.dir('demo-abc12'), 'committed-image'), '  \n');
    expect(await store.readCommittedRef('demo-abc12')).toBeUndefined();
    await writeFile(join(store.dir('demo-abc12'), 'committed-image'), '');
    expect(await store.readCommittedRef('demo-abc12')).toBeUndefined();
  });

  it('removeState keeps a preserved bottle unless forced', async () => {
    await store.writeMetadata(metadata('demo-abc12'));
    await store.markPreserved('demo-abc12');
    expect(await store.isPreserved('demo-abc12')).toBe(true);
    expect(await store.removeState('demo-abc12')).toBe(false);
    expect(await store.exists('demo-abc12')).toBe(true);
    expect(await store.removeState('demo-abc12', { force: true })).toBe(true);
    expect(await store.exists('demo-abc12')).toBe(false);
  });

  it('removeState deletes an unpreserved bottle', async () => {
    await store.writeMetadata(metadata('demo-abc12'));
    expect(await store.removeState('demo-abc12')).toBe(true);
    expect(await listTree(store.stateRoot)).toEqual([]);
  });

  it('lists slugs that have metadata, ignoring anything else', async () => {
    await store.writeMetadata(metadata('b-bottle'));
    await store.writeMetadata(metadata('a-bottle'));
    await mkdir(join(store.stateRoot, 'no-metadata'), { recursive: true });
    await mkdir(join(store.stateRoot, 'Not_A_Slug'), { recursive: true });
    expect(await store.listSlugs()).toEqual(['a-bottle', 'b-bottle']);
    expect(await new StateStore(join(home, 'empty')).listSlugs()).toEqual([]);
  });

  it('makes temp directories under its own tmp root', async () => {
    const temp = await store.makeTempDir('commit');
    expect(temp.startsWith(join(home, 'tmp', 'commit-'))).toBe(true);
  });

  describe('cannot be steered outside the state directory', () => {
    const badSlugs = ['../x', 'a/b', '.', '..', 'A', '-x', 'x-', 'a'.repeat(49), '', 'a b', 'a\\b', '/etc'];
    const calls: Record<string, (slug: string) => Promise<unknown>> = {
      dir: async (slug) => store.dir(slug),
      exists: (slug) => store.exists(slug),
      writeMetadata: (slug) => store.writeMetadata(metadata(slug)),
      readMetadata: (slug) => store.readMetadata(slug),
      requireMetadata: (slug) => store.requireMetadata(slug),
      writeCommittedRef: (slug) => store.writeCommittedRef(slug, 'ref'),
      readCommittedRef: (slug) => store.readCommittedRef(slug),
      markPreserved: (slug) => store.markPreserved(slug),
      isPreserved: (slug) => store.isPreserved(slug),
      removeState: (slug) => store.removeState(slug, { force: true }),
      withLock: (slug) => store.withLock(slug, async () => 'ran'),
    };

    for (const [method, call] of Object.entries(calls)) {
      it(`${method} rejects every invalid slug and writes nothing`, async () => {
        for (const slug of badSlugs) {
          await expect(call(slug), `${method}(${JSON.stringify(slug)})`).rejects.toBeInstanceOf(InvalidSlugError);
        }
        expect(await listTree(home)).toEqual([]);
      });
    }

    it('accepts a 48-character slug', async () => {
      const slug = `a${'b'.repeat(46)}c`;
      expect(slug).toHaveLength(48);
      await store.writeMetadata(metadata(slug));
      expect(await store.exists(slug)).toBe(true);
    });
  });
});

describe('StateStore.withLock', () => {
  it('serializes two concurrent holders of the same slug', async () => {
    const events: string[] = [];
    const hold = (name: string) =>
      store.withLock('demo-abc12', async () => {
        events.push(`${name} in`);
        await new Promise((resolve) => setTimeout(resolve, 300));
        events.push(`${name} out`);
        return name;
      });
    const results = await Promise.all([hold('first'), hold('second')]);
    expect(results).toEqual(['first', 'second']);
    // Whoever got in first left before the other entered.
    expect(events[0]?.endsWith('in')).toBe(true);
    expect(events[1]).toBe(events[0]?.replace('in', 'out'));
    expect(events[2]?.endsWith('in')).toBe(true);
    expect(events[3]).toBe(events[2]?.replace('in', 'out'));
  });

  it('lets different slugs run at the same time', async () => {
    const events: string[] = [];
    const hold = (slug: string) =>
      store.withLock(slug, async () => {
        events.push(`${slug} in`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        events.push(`${slug} out`);
      });
    await Promise.all([hold('one'), hold('two')]);
    expect(events.slice(0, 2).every((event) => event.endsWith('in'))).toBe(true);
  });

  it('takes over a stale lock left by a dead holder', async () => {
    const lockDir = `${store.dir('demo-abc12')}.lock`;
    await mkdir(lockDir, { recursive: true });
    // A live holder refreshes its lock every few seconds; this one stopped a minute ago.
    const aMinuteAgo = new Date(Date.now() - 60_000);
    await utimes(lockDir, aMinuteAgo, aMinuteAgo);
    expect(await store.withLock('demo-abc12', async () => 'took over', { waitMs: 1_000 })).toBe('took over');
    expect(await listTree(store.stateRoot)).toEqual([]);
  });

  it('gives up on a live lock after waitMs with a clear error', async () => {
    await mkdir(`${store.dir('demo-abc12')}.lock`, { recursive: true });
    const started = Date.now();
    const error = await store.withLock('demo-abc12', async () => 'never', { waitMs: 500 }).catch((caught: unknown) => caught);
    expect((error as Error).message).toContain('holds the lock for demo-abc12');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('releases the lock when the function throws', async () => {
    await expect(store.withLock('demo-abc12', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await store.withLock('demo-abc12', async () => 'again', { waitMs: 500 })).toBe('again');
  });
});
