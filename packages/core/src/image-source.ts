/**
 * Where a bottle's image comes from, and the agent user/home defaults every
 * image-based backend shares. Resolves the manifest's `image` / `dockerfile`
 * / `context` against the manifest directory and checks the paths exist;
 * touches no runtime.
 */
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { BottleSpec } from './contract.js';
import type { BottleConfig } from './manifest/schema.js';
import { BotBottleError, ManifestError } from './errors.js';

/** A ready image reference, or a Dockerfile to build under `tag`. */
export type ImageSource =
  | { readonly kind: 'image'; readonly ref: string }
  | { readonly kind: 'dockerfile'; readonly tag: string; readonly dockerfile: string; readonly context: string };

/** Tag a Dockerfile bottle is built under. */
export function builtImageTag(bottleName: string): string {
  return `bot-bottle-agent-${bottleName}:latest`;
}

/** The user part of an image's `User` (`node:node` -> `node`), or `node` when unset. */
export function agentUserFrom(imageUser: string | undefined): string {
  const name = (imageUser ?? '').split(':')[0]?.trim() ?? '';
  return name.length > 0 ? name : 'node';
}

/** Home directory of the agent user: `/root` for root, else `/home/<user>`. */
export function homeFor(user: string): string {
  return user === 'root' || user === '0' ? '/root' : `/home/${user}`;
}

/**
 * The agent user and home a plan can know before launch: the manifest's,
 * else those of an image already present (`imageUser` answers undefined
 * when it is not). Both stay undefined for an image still to be built or
 * fetched; launch settles them from the image it runs.
 */
export async function plannedAgentUser(
  bottle: Pick<BottleConfig, 'user' | 'home'>,
  source: ImageSource,
  imageUser: (ref: string) => Promise<string | undefined>,
): Promise<{ user: string | undefined; home: string | undefined }> {
  let user = bottle.user;
  if (user === undefined && source.kind === 'image') {
    const found = await imageUser(source.ref);
    if (found !== undefined) user = agentUserFrom(found);
  }
  return { user, home: bottle.home ?? (user !== undefined ? homeFor(user) : undefined) };
}

/**
 * The bottle's image source. Relative `dockerfile` / `context` paths resolve
 * against `spec.manifestDir`; the context defaults to the Dockerfile's
 * directory. Throws ManifestError when the Dockerfile or context is missing,
 * BotBottleError when the bottle names neither `image` nor `dockerfile`.
 */
export async function resolveImageSource(spec: BottleSpec): Promise<ImageSource> {
  const bottle = spec.bottle;
  const base = (path: string): string => (isAbsolute(path) ? path : resolve(spec.manifestDir, path));
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
    return { kind: 'dockerfile', tag: builtImageTag(spec.bottleName), dockerfile, context };
  }
  if (bottle.image !== undefined) return { kind: 'image', ref: bottle.image };
  throw new BotBottleError(`bottle ${spec.bottleName} names neither "image" nor "dockerfile"`);
}

async function isKind(path: string, kind: 'file' | 'dir'): Promise<boolean> {
  try {
    const s = await stat(path);
    return kind === 'file' ? s.isFile() : s.isDirectory();
  } catch {
    return false;
  }
}
