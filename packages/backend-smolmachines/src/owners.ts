/**
 * The owners manifest of an image, computed on the host from its OCI
 * layers (tar headers carry the true numeric owners), for the first boot of
 * a fresh image: a packer that hands every file to one uid would otherwise
 * leave /etc, /usr and the rest owned by the host user. Same line format as
 * the one a commit records inside the VM: `uid:gid mode /path`.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { AutoGunzip, blobPath, normalizeEntryPath, resolveManifest } from '@bot-bottle/core';

interface Owner {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '.' : path.slice(0, i);
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function removeTree(owners: Map<string, Owner>, dir: string, keepSelf: boolean): void {
  if (!keepSelf) owners.delete(dir);
  const prefix = dir === '.' ? '' : `${dir}/`;
  for (const key of owners.keys()) if (key.startsWith(prefix) && key !== dir) owners.delete(key);
}

/** Read one layer's entries (owners) and whiteouts. */
async function readLayer(file: string): Promise<{ entries: [string, Owner][]; whiteouts: string[]; opaque: string[] }> {
  const entries: [string, Owner][] = [];
  const whiteouts: string[] = [];
  const opaque: string[] = [];
  const ex = extract();
  ex.on('entry', (header, body, next) => {
    const path = normalizeEntryPath(header.name);
    const base = baseOf(path);
    if (base === OPAQUE) opaque.push(parentOf(path));
    else if (base.startsWith(WHITEOUT)) {
      const dir = parentOf(path);
      whiteouts.push(dir === '.' ? base.slice(WHITEOUT.length) : `${dir}/${base.slice(WHITEOUT.length)}`);
    } else {
      entries.push([path, { uid: header.uid ?? 0, gid: header.gid ?? 0, mode: (header.mode ?? 0) & 0o7777 }]);
    }
    body.on('end', () => next());
    body.resume();
  });
  await pipeline(createReadStream(file), new AutoGunzip(), ex);
  return { entries, whiteouts, opaque };
}

/** The final owner and mode of every path of the image tagged `tag` in `layoutDir`. */
export async function ownersFromLayout(layoutDir: string, tag: string): Promise<string> {
  const { manifest } = await resolveManifest(layoutDir, tag);
  const owners = new Map<string, Owner>();
  for (const layer of manifest.layers) {
    const { entries, whiteouts, opaque } = await readLayer(blobPath(layoutDir, layer.digest));
    for (const dir of opaque) removeTree(owners, dir, true);
    for (const gone of whiteouts) removeTree(owners, gone, false);
    for (const [path, owner] of entries) owners.set(path, owner);
  }
  return formatOwners(owners);
}

export function formatOwners(owners: ReadonlyMap<string, Owner>): string {
  const lines: string[] = [];
  for (const [path, { uid, gid, mode }] of owners) {
    if (path.includes('\n')) continue;
    lines.push(`${uid}:${gid} ${mode.toString(8)} ${path === '.' ? '/' : `/${path}`}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
