/** prepare(): a BottleSpec becomes a PodmanBottlePlan. Reads images at most; creates nothing. */
import { isAbsolute, resolve, dirname } from 'node:path';
import { assertValidSlug, BotBottleError, LABELS, runtimeNameFor, type BottlePlan, type BottleSpec } from '@bot-bottle/core';
import type { Podman } from './podman.js';

export const BACKEND_NAME = 'podman';
export const DEFAULT_MEMORY = '4g';
export const DEFAULT_PIDS = 1024;
/** The agent's home and user, so attach() knows them without guessing. */
export const HOME_LABEL = 'dev.bot-bottle.home';
export const USER_LABEL = 'dev.bot-bottle.user';

export type ImageSource =
  | { readonly kind: 'image'; readonly ref: string }
  | { readonly kind: 'dockerfile'; readonly tag: string; readonly dockerfile: string; readonly context: string };

export interface PodmanBottlePlan extends BottlePlan {
  readonly source: ImageSource;
  readonly user: string | undefined;
  readonly home: string | undefined;
  readonly memory: string;
  readonly pids: number;
  readonly cpus: number | undefined;
  readonly labels: Readonly<Record<string, string>>;
}

export function agentUserFrom(imageUser: string): string {
  const name = imageUser.split(':')[0]?.trim() ?? '';
  return name.length > 0 ? name : 'node';
}

export function homeFor(user: string): string {
  return user === 'root' || user === '0' ? '/root' : `/home/${user}`;
}

export async function preparePlan(podman: Podman, spec: BottleSpec): Promise<PodmanBottlePlan> {
  const slug = assertValidSlug(spec.slug);
  const { bottle } = spec;
  const base = (path: string): string => (isAbsolute(path) ? path : resolve(spec.manifestDir, path));
  let source: ImageSource;
  let user = bottle.user;
  if (bottle.dockerfile !== undefined) {
    const dockerfile = base(bottle.dockerfile);
    source = {
      kind: 'dockerfile',
      tag: `bot-bottle-agent-${spec.bottleName}:latest`,
      dockerfile,
      context: bottle.context !== undefined ? base(bottle.context) : dirname(dockerfile),
    };
  } else if (bottle.image !== undefined) {
    source = { kind: 'image', ref: bottle.image };
    if (user === undefined && (await podman.imageExists(bottle.image))) user = agentUserFrom((await podman.imageConfig(bottle.image)).user);
  } else {
    throw new BotBottleError(`bottle ${spec.bottleName} names neither "image" nor "dockerfile"`);
  }
  return {
    spec,
    backend: BACKEND_NAME,
    runtimeName: runtimeNameFor(slug),
    source,
    user,
    home: bottle.home ?? (user !== undefined ? homeFor(user) : undefined),
    memory: bottle.resources?.memory ?? DEFAULT_MEMORY,
    pids: bottle.resources?.pids ?? DEFAULT_PIDS,
    cpus: bottle.resources?.cpus,
    labels: { [LABELS.slug]: slug, [LABELS.agent]: spec.agentName, [LABELS.backend]: BACKEND_NAME },
  };
}
