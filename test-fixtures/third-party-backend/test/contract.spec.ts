/**
 * The bot-bottle contract suite against a real Podman. Needs podman and the
 * fixture image in podman's storage (`bash setup.sh` does both).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { committedImageFor } from '@bot-bottle/core';
import { runContractSuite } from '@bot-bottle/core/contract';
import plugin from '../src/index.js';

const run = promisify(execFile);
const FIXTURE_IMAGE = process.env.BB_PODMAN_FIXTURE_IMAGE ?? 'bot-bottle-fixture-agent:latest';

async function removeImage(ref: string): Promise<void> {
  try {
    await run('podman', ['rmi', '-f', ref]);
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '');
    if (!/image not known|no such image/i.test(stderr)) throw error;
  }
}

runContractSuite({
  title: 'podman (real engine, third-party package)',
  plugin,
  env: { BOT_BOTTLE_PODMAN_ULIMITS: process.env.BOT_BOTTLE_PODMAN_ULIMITS ?? 'nofile=1024:1024,nproc=1024:1024' },
  fixture: {
    bottle: { backend: 'podman', image: FIXTURE_IMAGE },
    agentUser: 'node',
    agentUid: 1000,
    agentHome: '/home/node',
  },
  deleteSnapshot: removeImage,
  async cleanup({ slugs }) {
    for (const slug of slugs) await removeImage(committedImageFor(slug));
  },
});
