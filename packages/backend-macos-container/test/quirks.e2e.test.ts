/**
 * The two behaviours of Apple's `container` that shaped this backend, checked
 * through the backend over the container EMULATOR (Docker-backed stand-in):
 *   - a commit never stops the bottle (exec + tar of the running container);
 *   - a stopped bottle is gone (the runtime deletes stopped containers), so
 *     stop-then-export could never have worked.
 * Plus availability() and the builder-DNS restart over the emulator.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentSchema,
  bottleSchema,
  committedImageFor,
  generateSlug,
  RecordingReporter,
  StateStore,
  type BackendContext,
  type Bottle,
  type BottleSpec,
} from '@bot-bottle/core';
import plugin, { type MacosContainerBackend } from '../src/index.js';
import { skipWithoutDocker } from '../../../test-fixtures/lib/engine-gate.js';
import { cleanupImages, emulator, EMULATOR_SETTINGS, FIXTURE_IMAGE } from './emulator.js';

describe.skipIf(skipWithoutDocker())('macos-container quirks through the backend (container emulator on Docker)', () => {
  let root: string;
  let context: BackendContext;
  let reporter: RecordingReporter;
  let backend: MacosContainerBackend;
  const slugs: string[] = [];
  const images: string[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bb-macos-quirks-'));
    reporter = new RecordingReporter();
    context = {
      store: new StateStore(join(root, 'home')),
      reporter,
      env: { ...process.env, ...EMULATOR_SETTINGS, BOT_BOTTLE_HOME: join(root, 'home'), CONTAINER_EMULATOR_STATE_DIR: join(root, 'emu') },
    };
    backend = plugin.createBackend(context) as MacosContainerBackend;
  });

  afterAll(async () => {
    for (const slug of slugs) await backend.teardown(slug).catch(() => undefined);
    await cleanupImages(images);
    await rm(root, { recursive: true, force: true });
  });

  function spec(slug: string, bottle: Record<string, unknown> = { backend: 'macos-container', image: FIXTURE_IMAGE }): BottleSpec {
    return {
      slug,
      agentName: 'quirk',
      agent: agentSchema.parse({ bottle: 'quirk', template: 'shell', command: ['sleep', 'infinity'] }),
      bottleName: 'quirk',
      bottle: bottleSchema.parse(bottle),
      manifestDir: root,
      cwd: root,
    };
  }

  async function start(slug: string, bottle?: Record<string, unknown>): Promise<Bottle> {
    slugs.push(slug);
    await context.store.writeMetadata({ identity: slug, agent: 'quirk', backend: 'macos-container', cwd: root, startedAt: new Date().toISOString() });
    return backend.launch(await backend.prepare(spec(slug, bottle)));
  }

  it('availability() over the emulator is available and says it is the emulator', async () => {
    reporter.clear();
    expect(await backend.availability()).toEqual({ available: true });
    expect(reporter.infos.join('\n')).toMatch(/EMULATOR/);
  });

  it.skipIf(process.platform === 'darwin')('without the emulator setting, availability() off macOS is unavailable with a reason', async () => {
    const { BOT_BOTTLE_CONTAINER_EMULATOR: _unset, ...plainEnv } = context.env;
    const plain = plugin.createBackend({ ...context, env: plainEnv });
    const result = await plain.availability();
    expect(result.available).toBe(false);
    expect(result.reason).toMatch(/only on macOS on Apple silicon/);
    expect(result.reason).not.toMatch(/EMULATOR/);
    expect(result.fix).toBeTruthy();
  });

  it('availability() is unavailable, with the fix, when `container system status` says not running', async () => {
    const down = plugin.createBackend({ ...context, env: { ...context.env, CONTAINER_EMULATOR_SYSTEM: 'stopped' } });
    const result = await down.availability();
    expect(result.available).toBe(false);
    expect(result.reason).toMatch(/not running/);
    expect(result.reason).toMatch(/EMULATOR/);
    expect(result.fix).toBeTruthy();
  });

  it('commit never stops the bottle: the same container and its processes keep running', async () => {
    const slug = generateSlug('quirk');
    const bottle = await start(slug);
    images.push(committedImageFor(slug));
    await bottle.execDetached(['sleep', '3600'], { logPath: '/tmp/quirk.log' });
    const before = (await bottle.exec(['sh', '-c', 'pgrep -x sleep | sort | tr "\\n" " "'])).stdout.trim();
    await bottle.exec(['sh', '-c', 'echo marker > ~/marker && echo scratch > /tmp/scratch']);
    const freezer = plugin.createFreezer(context);
    const result = await freezer.commit(slug);
    expect(result.ref).toBe(committedImageFor(slug));
    expect(result.exportHint).toContain(`container image save ${committedImageFor(slug)} -o ${slug}.tar`);
    // Still running, same processes, and /tmp (left out of the snapshot) still has what the session wrote.
    expect((await backend.listActive()).map((a) => a.slug)).toContain(slug);
    const after = (await bottle.exec(['sh', '-c', 'pgrep -x sleep | sort | tr "\\n" " "'])).stdout.trim();
    expect(after).toBe(before);
    expect((await bottle.exec(['cat', '/tmp/scratch'])).stdout).toBe('scratch\n');
    expect(await backend.snapshotExists(result.ref)).toBe(true);
  });

  it('a stopped bottle is gone: stop deletes the container, and there is nothing left to commit', async () => {
    const slug = generateSlug('quirk');
    await start(slug);
    emulator(['stop', '--time', '1', `bot-bottle-${slug}`]);
    expect(emulator(['list', '--all', '--quiet']).split('\n')).not.toContain(`bot-bottle-${slug}`);
    expect(await backend.attach(slug)).toBeUndefined();
    const freezer = plugin.createFreezer(context);
    await expect(freezer.commit(slug)).rejects.toThrow(/deletes a container when it stops|nothing to commit/);
    expect(await context.store.readCommittedRef(slug)).toBeUndefined();
    await backend.teardown(slug);
  });

  it('a Dockerfile bottle builds with `container build`, restarting a builder whose DNS is stale', async () => {
    const emuState = context.env.CONTAINER_EMULATOR_STATE_DIR as string;
    await rm(emuState, { recursive: true, force: true });
    await mkdir(emuState, { recursive: true });
    await writeFile(join(emuState, 'builder.json'), JSON.stringify({ running: true, nameservers: ['10.9.9.1'] }));
    await writeFile(join(root, 'Dockerfile'), `FROM ${FIXTURE_IMAGE}\nUSER root\nRUN echo built > /built.txt\nUSER node\n`);
    const slug = generateSlug('quirk');
    images.push('bot-bottle-agent-quirk:latest');
    reporter.clear();
    const bottle = await start(slug, { backend: 'macos-container', dockerfile: 'Dockerfile' });
    expect((await bottle.exec(['cat', '/built.txt'])).stdout).toBe('built\n');
    expect((await bottle.exec(['id', '-un'])).stdout.trim()).toBe('node');
    expect(reporter.infos.join('\n')).toMatch(/restarting the container builder/);
    expect(await readFile(join(emuState, 'builder.log'), 'utf8')).toMatch(/stop\n(delete\n)?start\n/);
    await backend.teardown(slug);
  });
});
