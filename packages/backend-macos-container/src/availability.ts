/**
 * availability(): Apple's `container` runs only on macOS on Apple silicon,
 * must be on PATH, and its services must be running. The one exception is
 * the test setting BOT_BOTTLE_CONTAINER_EMULATOR: it names the emulator
 * binary and lifts the platform check (and says so). Nothing else makes a
 * Linux host look like a Mac.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Availability } from '@bot-bottle/core';
import { EMULATOR_ENV, INSTALL_FIX, START_FIX, type ContainerCli } from './runtime.js';

export interface HostFacts {
  readonly platform: NodeJS.Platform;
  readonly arch: string;
}

export const currentHost = (): HostFacts => ({ platform: process.platform, arch: process.arch });

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first `name` on a PATH string, or undefined. */
export async function findOnPath(name: string, pathValue: string | undefined): Promise<string | undefined> {
  for (const dir of (pathValue ?? '').split(delimiter)) {
    if (dir.length === 0) continue;
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export async function containerAvailability(
  cli: ContainerCli,
  env: Readonly<Record<string, string | undefined>>,
  host: HostFacts = currentHost(),
): Promise<Availability> {
  if (cli.emulated) {
    const emulator = cli.binary;
    if (!isAbsolute(emulator) || !(await isExecutable(emulator))) {
      return {
        available: false,
        reason: `${EMULATOR_ENV}=${emulator} does not name an executable container emulator (an absolute path is required)`,
        fix: `set ${EMULATOR_ENV} to the absolute path of test-fixtures/container-emulator/bin/container, or unset it on a Mac`,
      };
    }
  } else {
    if (host.platform !== 'darwin') {
      return {
        available: false,
        reason: `Apple's container runs only on macOS on Apple silicon; this host is ${host.platform}/${host.arch}`,
        fix: 'use the docker backend here (`--backend docker`), or run bot-bottle on a Mac with Apple silicon',
      };
    }
    if (host.arch !== 'arm64') {
      return {
        available: false,
        reason: `Apple's container needs Apple silicon; this Mac is ${host.arch}`,
        fix: 'use the docker backend on Intel Macs (`--backend docker`)',
      };
    }
    if ((await findOnPath('container', env.PATH)) === undefined) {
      return { available: false, reason: '`container` is not on PATH', fix: INSTALL_FIX };
    }
  }
  let status;
  try {
    status = await cli.run(['system', 'status'], { allowFailure: true, timeoutMs: 30_000 });
  } catch (error) {
    return { available: false, reason: (error as Error).message, fix: cli.emulated ? 'start the Docker engine the emulator runs on' : INSTALL_FIX };
  }
  const prefix = cli.emulated ? `the container EMULATOR (${cli.binary}) ` : '';
  if (status.exitCode !== 0) {
    const said = (status.stdout + status.stderr).trim().split('\n')[0] ?? '';
    return {
      available: false,
      reason: `${prefix}\`container system status\` says the services are not running${said ? `: ${said}` : ''}`,
      fix: cli.emulated ? 'start the Docker engine the emulator runs on' : START_FIX,
    };
  }
  return { available: true };
}
