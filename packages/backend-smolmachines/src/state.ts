/**
 * What this backend keeps next to a bottle's state: the agent user and home
 * (attach needs them; a VM has no labels) and the runtime config of the
 * image the bottle came from (a commit rebuilds the image with it).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, type ImageRuntimeConfig, type StateStore } from '@bot-bottle/core';

export const BACKEND_STATE_FILE = 'smolmachines.json';
/** `state/<slug>/committed-smolmachine` (+ `.smolmachine`), the pack output of a commit. */
export const COMMITTED_BASENAME = 'committed-smolmachine';

export interface SmolmachinesState {
  readonly user: string;
  readonly home: string;
  readonly workdir: string;
  readonly imageConfig: ImageRuntimeConfig;
}

export async function writeBackendState(store: StateStore, slug: string, state: SmolmachinesState): Promise<void> {
  await mkdir(store.dir(slug), { recursive: true });
  await writeFileAtomic(join(store.dir(slug), BACKEND_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

export async function readBackendState(store: StateStore, slug: string): Promise<SmolmachinesState | undefined> {
  try {
    return JSON.parse(await readFile(join(store.dir(slug), BACKEND_STATE_FILE), 'utf8')) as SmolmachinesState;
  } catch {
    return undefined;
  }
}

