/**
 * Test helpers for running the macos-container backend over the container
 * EMULATOR (test-fixtures/container-emulator), a Docker-backed stand-in for
 * Apple's `container` CLI.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const execFileAsync = promisify(execFile);

/** Absolute path of the emulator's `container` executable. */
export const EMULATOR_BIN = fileURLToPath(new URL('../../../test-fixtures/container-emulator/bin/container', import.meta.url));

/** The label the emulator puts on every docker object it creates. */
export const EMULATOR_LABEL = 'dev.bot-bottle.emulator';

export const FIXTURE_IMAGE = 'bot-bottle-fixture-agent:latest';

/** The one setting that points the backend at the emulator. */
export const EMULATOR_SETTINGS = { BOT_BOTTLE_CONTAINER_EMULATOR: EMULATOR_BIN } as const;

/** Run the emulator (it only touches docker objects it created). */
export function emulator(args: string[], timeoutMs?: number): string {
  return execFileSync(EMULATOR_BIN, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(timeoutMs ? { timeout: timeoutMs, killSignal: 'SIGKILL' as const } : {}),
  });
}

/**
 * Delete a snapshot image the emulator built, tolerating one that is already
 * gone. Like Apple's `container image delete`, the emulator refuses an image
 * a running container uses; the contract suite deletes the snapshot under
 * the running bottle that booted from it, so then this falls back to the
 * engine's forced untag, and only for an image carrying the emulator's label.
 */
export async function deleteImage(ref: string): Promise<void> {
  try {
    await execFileAsync(EMULATOR_BIN, ['image', 'delete', ref]);
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '');
    if (/not found/i.test(stderr)) return;
    if (!/in use/i.test(stderr)) throw error;
    const { stdout } = await execFileAsync('docker', ['image', 'inspect', '--format', `{{index .Config.Labels "${EMULATOR_LABEL}"}}`, ref]);
    if (stdout.trim() !== 'container') throw error;
    await execFileAsync('docker', ['image', 'rm', '--force', ref]);
  }
}

/**
 * For after-test cleanup: delete the images (tolerating gone ones) and prune,
 * without blocking the test worker, giving up after `timeoutMs` per step with
 * a note (a busy shared engine can hold image deletions for a long time;
 * everything left carries the emulator's label and goes with the next prune).
 */
export async function cleanupImages(refs: readonly string[], timeoutMs = 120_000): Promise<void> {
  const steps = [...refs.map((ref) => ['image', 'delete', ref]), ['image', 'prune']];
  for (const args of steps) {
    try {
      await execFileAsync(EMULATOR_BIN, args, { timeout: timeoutMs, killSignal: 'SIGKILL' });
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '');
      if (/not found/i.test(stderr)) continue;
      process.stderr.write(`note: cleanup step "container ${args.join(' ')}" did not finish: ${stderr.trim() || (error as Error).message.split('\n')[0]}\n`);
    }
  }
}

