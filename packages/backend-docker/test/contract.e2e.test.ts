import { execFileSync } from 'node:child_process';
import { describe } from 'vitest';
import { committedImageFor } from '@bot-bottle/core';
import { runContractSuite } from '@bot-bottle/core/contract';
import plugin from '../src/index.js';
import { skipWithoutDocker } from '../../../test-fixtures/lib/engine-gate.js';

const FIXTURE_IMAGE = 'bot-bottle-fixture-agent:latest';

async function removeImage(ref: string): Promise<void> {
  try {
    execFileSync('docker', ['image', 'rm', '-f', ref], { stdio: 'pipe' });
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '');
    if (!/No such image/i.test(stderr)) throw error;
  }
}

describe.skipIf(skipWithoutDocker())('docker backend contract (real engine)', () => {
  runContractSuite({
    title: 'docker (real engine)',
    plugin,
    fixture: {
      bottle: { backend: 'docker', image: FIXTURE_IMAGE },
      agentUser: 'node',
      agentUid: 1000,
      agentHome: '/home/node',
    },
    deleteSnapshot: removeImage,
    // A docker snapshot ref is a tag that a later commit reuses, so a ref the
    // suite deleted once may exist again at the end: remove each slug's tag.
    async cleanup({ slugs }) {
      for (const slug of slugs) await removeImage(committedImageFor(slug));
    },
  });
});
