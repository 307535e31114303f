/**
 * The docker backend through the real CLI, as a user drives it from
 * test-fixtures/demo: start detached, write work, commit while it runs,
 * clean up, resume from the snapshot, find the work again.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithoutDocker } from '../../../test-fixtures/lib/engine-gate.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const BIN = join(ROOT, 'bin/bot-bottle');
const DEMO = join(ROOT, 'test-fixtures/demo');

describe.skipIf(skipWithoutDocker())('bot-bottle CLI on the docker backend (real engine)', () => {
  let home: string;
  const slugs: string[] = [];

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'bot-bottle-cli-e2e-'));
  });

  afterAll(async () => {
    for (const slug of slugs) {
      await cli(['cleanup', slug]).catch(() => undefined);
      for (const args of [['rm', '-f', `bot-bottle-${slug}`], ['network', 'rm', `bot-bottle-${slug}`], ['image', 'rm', '-f', `bot-bottle-committed-${slug}:latest`]]) {
        try {
          execFileSync('docker', args, { stdio: 'pipe' });
        } catch {
          // already gone
        }
      }
    }
    if (home) await rm(home, { recursive: true, force: true });
  });

  function cli(args: string[], env: Record<string, string> = {}) {
    return execa(BIN, args, { cwd: DEMO, env: { BOT_BOTTLE_HOME: home, ...env }, reject: false, stdin: 'ignore', timeout: 180_000 });
  }

  it('start --detach, exec, commit while running, cleanup, resume, and the work is still there', async () => {
    const started = await cli(['start', 'demo', '--detach', '--json']);
    expect(started.exitCode, started.stderr).toBe(0);
    const { slug, backend } = JSON.parse(started.stdout) as { slug: string; backend: string };
    slugs.push(slug);
    expect(backend).toBe('docker');
    expect(slug).toMatch(/^demo-[a-z0-9]{5}$/);

    const wrote = await cli(['exec', slug, '--', 'sh', '-c', 'echo hi > ~/work.txt']);
    expect(wrote.exitCode, wrote.stderr).toBe(0);

    // The agent is working in the background (fixture-agent writes ~/work/step-N.txt).
    await expect.poll(async () => (await cli(['exec', slug, '--', 'sh', '-c', 'ls ~/work'])).stdout, { timeout: 30_000 }).toMatch(/step-1\.txt/);

    const active = await cli(['list', 'active', '--json']);
    expect(active.exitCode, active.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(active.stdout))).toContain(slug);

    const human = await cli(['commit', slug]);
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stderr).toContain(`bot-bottle-committed-${slug}:latest`);
    expect(human.stderr).toContain(`bot-bottle resume ${slug}`);

    const committed = await cli(['commit', slug, '--json']);
    expect(committed.exitCode, committed.stderr).toBe(0);
    const commit = JSON.parse(committed.stdout) as { ref: string; slug: string };
    expect(commit).toMatchObject({ slug, ref: `bot-bottle-committed-${slug}:latest` });

    // Committing did not stop it.
    expect(execFileSync('docker', ['inspect', '-f', '{{.State.Running}}', `bot-bottle-${slug}`], { encoding: 'utf8' }).trim()).toBe('true');
    expect((await cli(['exec', slug, '--', 'true'])).exitCode).toBe(0);

    const cleaned = await cli(['cleanup', slug]);
    expect(cleaned.exitCode, cleaned.stderr).toBe(0);
    const none = await cli(['list', 'active', '--json']);
    expect(JSON.stringify(JSON.parse(none.stdout))).not.toContain(slug);

    const resumed = await cli(['resume', slug, '--detach']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`bot-bottle-committed-${slug}:latest`);

    const read = await cli(['exec', slug, '--', 'sh', '-c', 'cat ~/work.txt']);
    expect(read.exitCode, read.stderr).toBe(0);
    expect(read.stdout.trim()).toBe('hi');

    const done = await cli(['cleanup', slug]);
    expect(done.exitCode, done.stderr).toBe(0);
  });

  it('an unreachable engine is one clear error and a non-zero exit', async () => {
    const result = await cli(['start', 'demo', '--detach'], { DOCKER_HOST: 'unix:///nonexistent' });
    expect(result.exitCode).not.toBe(0);
    const errors = result.stderr.split('\n').filter((line) => /^error:/i.test(line));
    expect(errors).toHaveLength(1);
    expect(result.stderr).toMatch(/Docker engine is not reachable/);
    expect(result.stderr).toMatch(/DOCKER_HOST|scripts\/engine\.sh/);
    expect(result.stdout).toBe('');
  });
});
