/**
 * Turning OCI images into `.smolmachine` artifacts without a registry
 * daemon: the image sits in an OCI layout on disk, core's short-lived
 * endpoint serves it on 127.0.0.1 for exactly one `pack create --image`,
 * and the result is renamed into place only when the pack succeeded.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BotBottleError,
  readImageRuntimeConfig,
  resolveManifest,
  withServedImage,
  type BackendContext,
  type ImageRuntimeConfig,
  type ImageSource,
} from '@bot-bottle/core';
import { ownersFromLayout } from './owners.js';
import type { SmolvmCli } from './smolvm.js';

/** `pack create -o BASE` writes the launcher at BASE and the bootable artifact here. */
export function artifactPathFor(base: string): string {
  return `${base}.smolmachine`;
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Serve `layoutDir` for one `pack create --image`, writing `outBase` and
 * `outBase.smolmachine`. The endpoint stops when the pack ends, either way.
 */
export async function packFromLayout(
  cli: SmolvmCli,
  layoutDir: string,
  tag: string,
  outBase: string,
  options: { signal?: AbortSignal; repository?: string } = {},
): Promise<string> {
  await withServedImage(
    layoutDir,
    (served) => cli.packCreateImage(served.reference(tag), outBase, options.signal ? { signal: options.signal } : {}),
    { name: options.repository ?? 'bot-bottle/image' },
  );
  const artifact = artifactPathFor(outBase);
  if (!(await fileExists(artifact))) {
    throw new BotBottleError(`\`${cli.binary} pack create\` succeeded but wrote no ${artifact}`);
  }
  return artifact;
}

/** Move a packed pair (launcher + `.smolmachine`) into place; the artifact last-but-atomically. */
export async function installPacked(fromBase: string, toBase: string): Promise<string> {
  if (await fileExists(fromBase)) await rename(fromBase, toBase);
  await rename(artifactPathFor(fromBase), artifactPathFor(toBase));
  return artifactPathFor(toBase);
}

function hasTransport(ref: string): boolean {
  return /^(oci|oci-archive|docker-archive|docker-daemon|docker|containers-storage|dir):/.test(ref);
}

/** Run a host tool to completion, throwing with its stderr on failure. */
export function runTool(argv: readonly string[], options: { signal?: AbortSignal; env?: Readonly<Record<string, string | undefined>> } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } as NodeJS.ProcessEnv, ...(options.signal ? { signal: options.signal } : {}) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') reject(new BotBottleError(`\`${file}\` is not installed or not on PATH`, { hint: `install ${file}` }));
      else reject(error);
    });
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new BotBottleError(`\`${argv.join(' ')}\` failed (exit ${code}): ${Buffer.concat(err).toString('utf8').trim() || '<no stderr>'}`));
    });
  });
}

export interface AgentArtifact {
  /** The `.smolmachine` to boot. */
  readonly artifact: string;
  /** The image's runtime config (User, WorkingDir, Env, Entrypoint, Cmd). */
  readonly config: ImageRuntimeConfig;
  /** Host file holding the image's owners manifest (`uid:gid mode /path` lines). */
  readonly owners: string;
}

/**
 * The `.smolmachine` for a bottle's image, packed once per image content
 * digest and cached under `cacheDir('smolmachines')/<digest>/`.
 *
 * Images come from the local Docker engine (`skopeo copy docker-daemon:IMG
 * oci:...`); a Dockerfile bottle is built with `docker build` first. Without
 * Docker, `image` must name an OCI source skopeo reads directly, e.g.
 * `oci:/path/to/layout:tag` or `oci-archive:/path/image.tar`.
 */
export async function ensureImageArtifact(
  cli: SmolvmCli,
  context: BackendContext,
  source: ImageSource,
  signal?: AbortSignal,
): Promise<AgentArtifact> {
  const env = context.env;
  let ref: string;
  if (source.kind === 'dockerfile') {
    const progress = context.reporter.progress(`building ${source.tag}`);
    try {
      await runTool(['docker', 'build', '-t', source.tag, '-f', source.dockerfile, source.context], { env, ...(signal ? { signal } : {}) });
    } catch (error) {
      progress.done('failed');
      throw new BotBottleError(`building ${source.tag} from ${source.dockerfile} failed`, {
        hint: 'the smolmachines backend builds Dockerfiles with the local Docker engine; fix the build and try again',
        cause: error,
      });
    }
    progress.done(`built ${source.tag}`);
    ref = source.tag;
  } else {
    ref = source.ref;
  }
  const skopeoSource = hasTransport(ref) ? ref : `docker-daemon:${ref}`;

  // Cache key: the image's config digest. For a Docker image that is its
  // id, known without exporting anything.
  let key: string | undefined;
  if (skopeoSource.startsWith('docker-daemon:')) {
    try {
      key = (await runTool(['docker', 'image', 'inspect', '--format', '{{.Id}}', ref], { env })).trim();
    } catch (error) {
      throw new BotBottleError(`image ${ref} is not present in the local Docker engine`, {
        hint: 'build or load it first (bot-bottle never pulls), or name an OCI source such as oci:/path/to/layout:tag',
        cause: error,
      });
    }
  }
  const cacheRoot = context.store.cacheDir('smolmachines');
  const cached = async (digest: string): Promise<AgentArtifact | undefined> => {
    const dir = join(cacheRoot, digest.replace(/^sha256:/, ''));
    const artifact = artifactPathFor(join(dir, 'agent'));
    const configFile = join(dir, 'image-config.json');
    const owners = join(dir, 'owners');
    if ((await fileExists(artifact)) && (await fileExists(configFile)) && (await fileExists(owners))) {
      return { artifact, config: JSON.parse(await readFile(configFile, 'utf8')) as ImageRuntimeConfig, owners };
    }
    return undefined;
  };
  if (key) {
    const hit = await cached(key);
    if (hit) return hit;
  }

  const tmp = await context.store.makeTempDir('smolmachines-image');
  try {
    const layout = join(tmp, 'layout');
    const progress = context.reporter.progress(`exporting ${ref}`);
    await runTool(['skopeo', 'copy', '--quiet', skopeoSource, `oci:${layout}:image`], { env, ...(signal ? { signal } : {}) });
    progress.done();
    const { manifest } = await resolveManifest(layout, 'image');
    const digest = key ?? manifest.config.digest;
    const hit = await cached(digest);
    if (hit) return hit;
    const config = await readImageRuntimeConfig(layout, 'image');
    const ownersText = await ownersFromLayout(layout, 'image');
    const packing = context.reporter.progress(`packing ${ref} into a .smolmachine`);
    const outBase = join(tmp, 'agent');
    await packFromLayout(cli, layout, 'image', outBase, signal ? { signal } : {});
    packing.done();
    const dir = join(cacheRoot, digest.replace(/^sha256:/, ''));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'image-config.json'), `${JSON.stringify(config, null, 2)}\n`);
    await writeFile(join(dir, 'owners'), ownersText);
    // The artifact goes last: its presence is what marks the entry complete.
    const artifact = await installPacked(outBase, join(dir, 'agent'));
    return { artifact, config, owners: join(dir, 'owners') };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
