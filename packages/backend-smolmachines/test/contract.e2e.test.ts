/**
 * The backend contract over the smolvm EMULATOR, under both packer
 * behaviours: owners remapped to the host user (smolvm before 1.8.1) and
 * owners preserved.
 */
import { rm } from 'node:fs/promises';
import { describe } from 'vitest';
import { runContractSuite } from '@bot-bottle/core/contract';
import plugin from '../src/index.js';
import { skipWithoutDocker } from '../../../test-fixtures/lib/engine-gate.js';
import { deleteSmolmachine, emulatorEnv, FIXTURE_IMAGE, PACKER_MODES } from './emulator.js';

const skip = skipWithoutDocker();

for (const mode of PACKER_MODES) {
  const env = emulatorEnv(mode);
  describe.skipIf(skip)(`smolmachines backend contract (smolvm emulator, owner-${mode} packer)`, () => {
    runContractSuite({
      title: `smolmachines (smolvm emulator, owner-${mode} packer)`,
      plugin,
      env,
      fixture: {
        bottle: { backend: 'smolmachines', image: FIXTURE_IMAGE },
        agentUser: 'node',
        agentUid: 1000,
        agentHome: '/home/node',
      },
      deleteSnapshot: deleteSmolmachine,
      async cleanup() {
        await rm(env.SMOLVM_EMULATOR_HOME!, { recursive: true, force: true });
      },
    });
  });
}
