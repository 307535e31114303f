import type { Availability } from '@bot-bottle/core';
import { SMOLVM_FIX, type SmolvmCli } from './smolvm.js';

/** smolvm answers `--version`, or why not and how to fix it. */
export async function smolvmAvailability(cli: SmolvmCli): Promise<Availability> {
  try {
    await cli.version();
    return { available: true };
  } catch (error) {
    return { available: false, reason: `${cli.binary} is not usable: ${(error as Error).message}`, fix: SMOLVM_FIX };
  }
}
