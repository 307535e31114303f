/**
 * prepare(): turn a BottleSpec into a DockerBottlePlan. Reads the engine at
 * most (`docker image inspect`); creates nothing.
 */
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  assertValidSlug,
  BotBottleError,
  LABELS,
  ManifestError,
  runtimeNameFor,
  type BottlePlan,
  type BottleSpec,
} from '@bot-bottle/core';
import type { DockerCli } from './runtime.js';

export const BACKEND_NAME = 'docker';
export const DEFAULT_MEMORY = '4g';
export const DEFAULT_PIDS = 1024;
/** Extra label: the agent's home, so attach() knows it without guessing. */
export const HOME_LABEL = 'dev.bot-bottle.home';
/** Extra label: the agent user commands run as by default. */
export const USER_LABEL = 'dev.bot-bottle.user';
/** Extra label on helper containers (the egress sidecar), so they are never taken for the bottle itself. */
export const ROLE_LABEL = 'dev.bot-bottle.role';
export const EGRESS_ROLE = 'egress-proxy';

export type ImageSource =
  | { readonly kind: 'image'; readonly ref: string }
  | { readonly kind: 'dockerfile'; readonly tag: string; readonly dockerfile: string; readonly context: string };

export interface DockerBottlePlan extends BottlePlan {
  readonly source: ImageSource;
  /** Agent user from the manifest or the image; undefined until the image is known (Dockerfile builds). */
  readonly user: string | undefined;
  readonly home: string | undefined;
  readonly memory: string;
  readonly pids: number;
  readonly cpus: number | undefined;
  readonly networkName: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Tag a Dockerfile bottle is built under. */
export function builtImageTag(bottleName: string): string {
  return `bot-bottle-agent-${bottleName}:latest`;
}

/** The image's user name (without `:group`), or `node` when the image sets none. */
export function agentUserFrom(imageUser: string): string {
  const name = imageUser.split(':')[0]?.trim() ?? '';
  return name.length > 0 ? name : 'node';
}

export function homeFor(user: string): string {
  return user === 'root' || user === '0' ? '/root' : `/home/${user}`;
}

export async function prepareDockerPlan(cli: DockerCli, spec: BottleSpec): Promise<DockerBottlePlan> {
  const slug = assertValidSlug(spec.slug);
  const bottle = spec.bottle;
  const base = (path: string): string => (isAbsolute(path) ? path : resolve(spec.manifestDir, path));

  let source: ImageSource;
  let user = bottle.user;
  if (bottle.dockerfile !== undefined) {
    const dockerfile = base(bottle.dockerfile);
    const context = bottle.context !== undefined ? base(bottle.context) : dirname(dockerfile);
    if (!(await isFile(dockerfile))) {
      throw new ManifestError(`bottle ${spec.bottleName}: Dockerfile ${dockerfile} does not exist`, {
        hint: `fix "dockerfile" in the manifest (paths are relative to ${spec.manifestDir})`,
      });
    }
    if (!(await isDirectory(context))) {
      throw new ManifestError(`bottle ${spec.bottleName}: build context ${context} is not a directory`, {
        hint: `fix "context" in the manifest (paths are relative to ${spec.manifestDir})`,
      });
    }
    source = { kind: 'dockerfile', tag: builtImageTag(spec.bottleName), dockerfile, context };
  } else if (bottle.image !== undefined) {
    source = { kind: 'image', ref: bottle.image };
    if (user === undefined && (await cli.imageExists(bottle.image))) {
      user = agentUserFrom((await cli.imageConfig(bottle.image)).user);
    }
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
    networkName: runtimeNameFor(slug),
    labels: { [LABELS.slug]: slug, [LABELS.agent]: spec.agentName, [LABELS.backend]: BACKEND_NAME },
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
