import { mkdir } from 'node:fs/promises';
import { basename, dirname, extname } from 'node:path';
import type * as z from 'zod/mini';
import { ManifestError } from '../errors.js';
import { writeFileAtomic } from '../state/atomic.js';
import type { manifestSchema } from './schema.js';
import { displayPath, validateManifest } from './validate.js';

/** A manifest as written by hand: defaulted fields may be left out. */
export type ManifestInput = z.input<typeof manifestSchema>;

/**
 * Write a manifest as pretty JSON, atomically (an editor or a second
 * command never sees half a file). It is validated first so `init` and
 * `edit` can never leave an unloadable manifest behind. The object is
 * written as given, so defaults the author left out stay out.
 */
export async function writeManifest(file: string, manifest: ManifestInput): Promise<void> {
  const name = basename(file);
  if (name === 'package.json' || (extname(name) !== '.json' && name !== '.bot-bottlerc')) {
    throw new ManifestError(`${displayPath(file)}: bot-bottle only writes JSON manifests`, {
      file,
      hint: 'edit this file by hand, or move the manifest to bot-bottle.json',
    });
  }
  validateManifest(manifest, file);
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify(manifest, null, 2)}\n`);
}
