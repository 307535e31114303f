/**
 * The backend contract, run over the container EMULATOR (Apple's `container`
 * CLI emulated on the Docker engine; see test-fixtures/container-emulator).
 */
import { describe } from 'vitest';
import { runContractSuite } from '@bot-bottle/core/contract';
import plugin from '../src/index.js';
import { skipWithoutDocker } from '../../../test-fixtures/lib/engine-gate.js';
import { cleanupImages, deleteImage, EMULATOR_SETTINGS, FIXTURE_IMAGE } from './emulator.js';

describe.skipIf(skipWithoutDocker())('macos-container backend contract (container emulator on Docker)', () => {
  runContractSuite({
    title: 'macos-container (emulator)',
    plugin,
    env: EMULATOR_SETTINGS,
    fixture: {
      bottle: { backend: 'macos-container', image: FIXTURE_IMAGE },
      agentUser: 'node',
      agentUid: 1000,
      agentHome: '/home/node',
    },
    async deleteSnapshot(ref: string) {
      await deleteImage(ref);
    },
    // Later commits re-create the same ref after the snapshot-gone case; delete whatever is left,
    // then let the emulated store drop the content of replaced snapshots (`container image prune`).
    async cleanup({ refs }) {
      await cleanupImages(refs);
    },
  });
});
