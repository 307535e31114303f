import { constants } from 'node:fs';
import { accessSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The first-party backend packages, by backend name. */
export const FIRST_PARTY_BACKENDS: Readonly<Record<string, string>> = {
  docker: '@bot-bottle/backend-docker',
  'macos-container': '@bot-bottle/backend-macos-container',
  smolmachines: '@bot-bottle/backend-smolmachines',
};

export interface HostFacts {
  readonly platform: NodeJS.Platform;
  readonly arch: string;
  /** True when the named executable is on PATH. */
  readonly onPath: (command: string) => boolean;
}

/** Whether `command` is an executable file in one of PATH's directories. No process is spawned. */
export function isOnPath(command: string, env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const path = env.PATH ?? '';
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

export function currentHost(env: Readonly<Record<string, string | undefined>> = process.env): HostFacts {
  return { platform: process.platform, arch: process.arch, onPath: (command) => isOnPath(command, env) };
}

/**
 * The backend package that fits this host: Apple silicon Macs get
 * macos-container, hosts with `smolvm` get smolmachines, everything else
 * (Linux, or any host with docker) gets docker.
 */
export function suggestBackendPackage(host: HostFacts = currentHost()): string {
  if (host.platform === 'darwin' && host.arch === 'arm64') return FIRST_PARTY_BACKENDS['macos-container']!;
  if (host.onPath('smolvm')) return FIRST_PARTY_BACKENDS.smolmachines!;
  return FIRST_PARTY_BACKENDS.docker!;
}

/** The command line that installs the backend for this host. */
export function installCommandFor(packageName: string): string {
  return `bot-bottle plugins install ${packageName}`;
}
