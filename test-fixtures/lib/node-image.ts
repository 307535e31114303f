import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The project's own Node 24 binary (scripts/toolchain.sh installs it). */
export const NODE_BINARY = process.env.BOT_BOTTLE_NODE_BINARY ?? join(root, '.toolchain', 'node-24.21.0', 'bin', 'node');

export const FIXTURE_NODE_IMAGE = 'bot-bottle-fixture-node:24';

/**
 * An image with `node` built from local files only: the fixture base plus
 * the project's Node binary. Stands in for `node:24-slim`, which no test
 * can pull.
 */
export function ensureFixtureNodeImage(): string {
  try {
    execFileSync('docker', ['image', 'inspect', FIXTURE_NODE_IMAGE], { stdio: 'ignore' });
    return FIXTURE_NODE_IMAGE;
  } catch {
    // build it below
  }
  const dir = mkdtempSync(join(tmpdir(), 'bb-node-image-'));
  try {
    copyFileSync(NODE_BINARY, join(dir, 'node'));
    writeFileSync(
      join(dir, 'Dockerfile'),
      'FROM bot-bottle-fixture-base:bookworm\nCOPY node /usr/local/bin/node\nRUN chmod 0755 /usr/local/bin/node && node --version\n',
    );
    execFileSync('docker', ['build', '-t', FIXTURE_NODE_IMAGE, dir], { stdio: 'pipe' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return FIXTURE_NODE_IMAGE;
}
