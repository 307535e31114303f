import { isBotBottleError, type Availability } from '@bot-bottle/core';
import { ENGINE_FIX, type DockerCli } from './runtime.js';

/** The engine answers `docker version` (server part included), or why not and how to fix it. */
export async function dockerAvailability(cli: DockerCli): Promise<Availability> {
  try {
    const version = await cli.serverVersion();
    if (version.length === 0) {
      return { available: false, reason: 'the Docker engine did not report a server version', fix: ENGINE_FIX };
    }
    return { available: true };
  } catch (error) {
    const reason = isBotBottleError(error) || error instanceof Error ? error.message : String(error);
    return { available: false, reason, fix: ENGINE_FIX };
  }
}
