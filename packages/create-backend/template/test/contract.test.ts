/**
 * The bot-bottle contract suite against this backend's real runtime. It
 * boots the fixture image (a non-root `node` user, uid 1000, home
 * /home/node; see the bot-bottle repository's test-fixtures/agent-image),
 * runs one bottle through every case in order, and cleans up.
 */
import { runContractSuite } from '@bot-bottle/core/contract';
import plugin from '../src/index.js';

const FIXTURE_IMAGE = process.env.BOT_BOTTLE_FIXTURE_IMAGE ?? 'bot-bottle-fixture-agent:latest';

runContractSuite({
  title: '__BACKEND_NAME__ (real runtime)',
  plugin,
  fixture: {
    bottle: { backend: '__BACKEND_NAME__', image: FIXTURE_IMAGE },
    agentUser: 'node',
    agentUid: 1000,
    agentHome: '/home/node',
  },
  /** Remove a committed snapshot the way a user would; a ref that is already gone is fine. */
  async deleteSnapshot(ref: string): Promise<void> {
    throw new Error(`TODO: delete snapshot ${ref}`);
  },
});
