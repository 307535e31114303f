/**
 * prepare(): turn a BottleSpec into a SmolmachinesBottlePlan. Touches no
 * runtime object; the image itself is only read at launch.
 */
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { assertValidSlug, BotBottleError, ManifestError, runtimeNameFor, type BottlePlan, type BottleSpec } from '@bot-bottle/core';

export const BACKEND_NAME = 'smolmachines';

export type ImageSource =
  | { readonly kind: 'image'; readonly ref: string }
  | { readonly kind: 'dockerfile'; readonly tag: string; readonly dockerfile: string; readonly context: string };

export interface SmolmachinesBottlePlan extends BottlePlan {
  readonly source: ImageSource;
  /** Agent user from the manifest; undefined means "the image's user, else node". */
  readonly user: string | undefined;
  readonly home: string | undefined;
  /** Give the VM a network (sent explicitly whenever CIDRs are allowed). */
  readonly net: boolean;
  readonly allowCidrs: readonly string[];
}

export function builtImageTag(bottleName: string): string {
  return `bot-bottle-agent-${bottleName}:latest`;
}

/** The user part of an image's `User` (`node:node` -> `node`), or `node` when unset. */
export function agentUserFrom(imageUser: string | undefined): string {
  const name = (imageUser ?? '').split(':')[0]?.trim() ?? '';
  return name.length > 0 ? name : 'node';
}

export function homeFor(user: string): string {
  return user === 'root' || user === '0' ? '/root' : `/home/${user}`;
}

export interface PlanSettings {
  /** `BOT_BOTTLE_SMOLMACHINES_NET=1` gives every VM a network. */
  readonly net: boolean;
  /** `BOT_BOTTLE_SMOLMACHINES_ALLOW_CIDRS=10.0.0.0/8,1.2.3.4/32` */
  readonly allowCidrs: readonly string[];
}

export function settingsFromEnv(env: Readonly<Record<string, string | undefined>>): PlanSettings {
  const cidrs = (env.BOT_BOTTLE_SMOLMACHINES_ALLOW_CIDRS ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c.length > 0);
  const net = /^(1|true|yes)$/i.test(env.BOT_BOTTLE_SMOLMACHINES_NET ?? '');
  return { net, allowCidrs: cidrs };
}

export async function prepareSmolmachinesPlan(spec: BottleSpec, settings: PlanSettings): Promise<SmolmachinesBottlePlan> {
  const slug = assertValidSlug(spec.slug);
  const bottle = spec.bottle;
  const base = (path: string): string => (isAbsolute(path) ? path : resolve(spec.manifestDir, path));
  let source: ImageSource;
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
  } else {
    throw new BotBottleError(`bottle ${spec.bottleName} names neither "image" nor "dockerfile"`);
  }
  return {
    spec,
    backend: BACKEND_NAME,
    runtimeName: runtimeNameFor(slug),
    source,
    user: bottle.user,
    home: bottle.home ?? (bottle.user !== undefined ? homeFor(bottle.user) : undefined),
    net: settings.net || settings.allowCidrs.length > 0,
    allowCidrs: settings.allowCidrs,
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
