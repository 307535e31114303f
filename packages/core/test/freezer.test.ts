import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BotBottleError,
  CommitAborted,
  CommitCancelled,
  Freezer,
  InvalidSlugError,
  RecordingReporter,
  StateStore,
  UnknownSlugError,
  type BackendContext,
  type FreezeContext,
} from '../src/index.js';

type FreezeBehaviour = (context: FreezeContext) => Promise<string>;

/** A backend's Freezer reduced to what the template method calls. */
class FakeFreezer extends Freezer {
  readonly backendName = 'fake';
  readonly calls: FreezeContext[] = [];

  constructor(
    context: BackendContext,
    private readonly behaviour: FreezeBehaviour = async ({ slug }) => `fake-snapshot-${slug}`,
  ) {
    super(context);
  }

  protected override async freeze(context: FreezeContext): Promise<string> {
    this.calls.push(context);
    return this.behaviour(context);
  }

  protected override exportHint(slug: string, ref: string): string | undefined {
    return `to move it: fake export ${ref} > ${slug}.tar`;
  }
}

const SLUG = 'demo-abc12';
let home: string;
let store: StateStore;
let reporter: RecordingReporter;
let context: BackendContext;

async function listTree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[])).map(String).sort();
}

async function startedBottle(backend = 'fake'): Promise<void> {
  await store.writeMetadata({ identity: SLUG, agent: 'demo', backend, cwd: '/work', startedAt: new Date().toISOString() });
}

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'bb-freezer-test-'));
  store = new StateStore(home);
  reporter = new RecordingReporter();
  context = { store, reporter, env: {} };
});

afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('Freezer.commit', () => {
  it('records the ref, marks the bottle preserved and prints the hints', async () => {
    await startedBottle();
    const freezer = new FakeFreezer(context);
    const result = await freezer.commit(SLUG);

    expect(result).toMatchObject({
      slug: SLUG,
      backend: 'fake',
      ref: `fake-snapshot-${SLUG}`,
      resumeHint: `to resume from this snapshot: bot-bottle resume ${SLUG}`,
      exportHint: `to move it: fake export fake-snapshot-${SLUG} > ${SLUG}.tar`,
    });
    expect(result.seconds).toBeGreaterThanOrEqual(0);
    expect(await store.readCommittedRef(SLUG)).toBe(`fake-snapshot-${SLUG}`);
    expect(await store.isPreserved(SLUG)).toBe(true);
    expect(reporter.infos).toEqual([
      `committed ${SLUG} -> fake-snapshot-${SLUG}`,
      result.resumeHint,
      result.exportHint,
    ]);
  });

  it('hands freeze the metadata, the previous ref, the store and a signal', async () => {
    await startedBottle();
    await store.writeCommittedRef(SLUG, 'older-snapshot');
    const freezer = new FakeFreezer(context);
    await freezer.commit(SLUG);
    const [call] = freezer.calls;
    expect(call?.previousRef).toBe('older-snapshot');
    expect(call?.metadata.agent).toBe('demo');
    expect(call?.store).toBe(store);
    expect(call?.signal.aborted).toBe(false);
    expect(await store.readCommittedRef(SLUG)).toBe(`fake-snapshot-${SLUG}`);
  });

  it('fails for an unknown slug without creating anything under the state root', async () => {
    const freezer = new FakeFreezer(context);
    await expect(freezer.commit('nobody-00000')).rejects.toBeInstanceOf(UnknownSlugError);
    await expect(freezer.commit('../escape')).rejects.toBeInstanceOf(InvalidSlugError);
    expect(freezer.calls).toHaveLength(0);
    expect(await listTree(home)).toEqual([]);
  });

  it('refuses a bottle that runs on another backend', async () => {
    await startedBottle('docker');
    const freezer = new FakeFreezer(context);
    await expect(freezer.commit(SLUG)).rejects.toThrow(/runs on backend docker, not fake/);
    expect(freezer.calls).toHaveLength(0);
  });

  it('leaves the previous ref and the preserved marker alone when freeze fails', async () => {
    await startedBottle();
    await store.writeCommittedRef(SLUG, 'older-snapshot');
    const freezer = new FakeFreezer(context, async () => {
      throw new BotBottleError('the runtime fell over');
    });
    await expect(freezer.commit(SLUG)).rejects.toThrow('the runtime fell over');
    expect(await store.readCommittedRef(SLUG)).toBe('older-snapshot');
    expect(await store.isPreserved(SLUG)).toBe(false);
    expect(reporter.infos).toEqual([]);
  });

  it('lets CommitCancelled through for the CLI to exit 0, recording nothing', async () => {
    await startedBottle();
    const freezer = new FakeFreezer(context, async () => {
      throw new CommitCancelled('the user said no');
    });
    const error = await freezer.commit(SLUG).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CommitCancelled);
    expect(await store.readCommittedRef(SLUG)).toBeUndefined();
    expect(await store.isPreserved(SLUG)).toBe(false);
  });

  it('turns an abort during freeze into CommitAborted', async () => {
    await startedBottle();
    await store.writeCommittedRef(SLUG, 'older-snapshot');
    const controller = new AbortController();
    const freezer = new FakeFreezer(
      context,
      ({ signal }) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(Object.assign(new Error('tar was killed'), { name: 'AbortError' })));
        }),
    );
    const pending = freezer.commit(SLUG, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const error = await pending.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CommitAborted);
    expect((error as CommitAborted).exitCode).toBe(130);
    expect(await store.readCommittedRef(SLUG)).toBe('older-snapshot');
    expect(await store.isPreserved(SLUG)).toBe(false);
  });

  it('records nothing when the signal fired while freeze was finishing', async () => {
    await startedBottle();
    const controller = new AbortController();
    const freezer = new FakeFreezer(context, async () => {
      controller.abort();
      return 'snapshot-made-too-late';
    });
    await expect(freezer.commit(SLUG, { signal: controller.signal })).rejects.toBeInstanceOf(CommitAborted);
    expect(await store.readCommittedRef(SLUG)).toBeUndefined();
  });

  it('holds the per-slug lock while freezing', async () => {
    await startedBottle();
    const events: string[] = [];
    const freezer = new FakeFreezer(context, async ({ slug }) => {
      events.push('freeze in');
      await new Promise((resolve) => setTimeout(resolve, 300));
      events.push('freeze out');
      return `fake-snapshot-${slug}`;
    });
    const commit = freezer.commit(SLUG);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await store.withLock(SLUG, async () => {
      events.push('other holder');
    });
    await commit;
    expect(events).toEqual(['freeze in', 'freeze out', 'other holder']);
  });
});
