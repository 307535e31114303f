/**
 * Helpers for running the smolmachines backend over the smolvm EMULATOR
 * (test-fixtures/smolvm-emulator: "machines" are containers on the local
 * Docker engine, with the real CLI's argument shapes and quirks).
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const EMULATOR_BIN = fileURLToPath(new URL('../../../test-fixtures/smolvm-emulator/bin/smolvm', import.meta.url));
export const FIXTURE_IMAGE = 'bot-bottle-fixture-agent:latest';

export type PackerMode = 'remapping' | 'preserving';
export const PACKER_MODES: readonly PackerMode[] = ['remapping', 'preserving'];

/** Settings for one packer behaviour; each gets its own emulator home. */
export function emulatorEnv(mode: PackerMode, extra: Record<string, string> = {}): Record<string, string> {
  return {
    BOT_BOTTLE_SMOLVM: EMULATOR_BIN,
    SMOLVM_EMULATOR_HOME: mkdtempSync(join(tmpdir(), `smolvm-emu-${mode}-`)),
    // Unset means "remap every owner to the host user" (smolvm before 1.8.1).
    SMOLVM_EMULATOR_PRESERVE_OWNERS: mode === 'preserving' ? '1' : '',
    ...extra,
  };
}

/** Remove a committed `.smolmachine` and its launcher, as a user would. */
export async function deleteSmolmachine(ref: string): Promise<void> {
  await rm(ref, { force: true });
  await rm(ref.replace(/\.smolmachine$/, ''), { force: true });
}
