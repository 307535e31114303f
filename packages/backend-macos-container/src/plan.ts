/**
 * prepare(): turn a BottleSpec into a MacosContainerPlan. Reads the runtime
 * at most (`container image inspect`); creates nothing.
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
import type { ContainerCli } from './runtime.js';

export const BACKEND_NAME = 'macos-container';
export const DEFAULT_MEMORY = '4g';
/** Extra labels so attach() knows the agent user and home without guessing. */
export const USER_LABEL = 'dev.bot-bottle.user';
export const HOME_LABEL = 'dev.bot-bottle.home';

export type ImageSource =
  | { readonly kind: 'image'; readonly ref: string }
  | { readonly kind: 'dockerfile'; readonly tag: string; readonly dockerfile: string; readonly context: string };

export interface MacosContainerPlan extends BottlePlan {
  readonly source: ImageSource;
  /** Agent user from the manifest or the image; undefined until the image is known (Dockerfile builds). */
  readonly user: string | undefined;
  readonly home: string | undefined;
  readonly memory: string;
  readonly cpus: number | undefined;
  readonly networkName: string;
  readonly labels: Readonly<Record<string, string>>;
}

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

export async function prepareMacosContainerPlan(cli: ContainerCli, spec: BottleSpec): Promise<MacosContainerPlan> {
  const slug = assertValidSlug(spec.slug);
  const bottle = spec.bottle;
  const base = (path: string): string => (isAbsolute(path) ? path : resolve(spec.manifestDir, path));
  let source: ImageSource;
  let user = bottle.user;
  if (bottle.dockerfile !== undefined) {
    const dockerfile = base(bottle.dockerfile);
    const context = bottle.context !== undefined ? base(bottle.context) : dirname(dockerfile);
    if (!(await isKind(dockerfile, 'file'))) {
      throw new ManifestError(`bottle ${spec.bottleName}: Dockerfile ${dockerfile} does not exist`, {
        hint: `fix "dockerfile" in the manifest (paths are relative to ${spec.manifestDir})`,
      });
    }
    if (!(await isKind(context, 'dir'))) {
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
    cpus: bottle.resources?.cpus,
    networkName: runtimeNameFor(slug),
    labels: { [LABELS.slug]: slug, [LABELS.agent]: spec.agentName, [LABELS.backend]: BACKEND_NAME },
  };
}

async function isKind(path: string, kind: 'file' | 'dir'): Promise<boolean> {
  try {
    const s = await stat(path);
    return kind === 'file' ? s.isFile() : s.isDirectory();
  } catch {
    return false;
  }
}
