/**
 * A minimal OCI image-layout writer and reader.
 *
 * An image is built from one root-filesystem tar without Docker: the tar is
 * streamed once, hashed uncompressed (the diff id) and, when gzip is on,
 * hashed again compressed (the layer digest), and every blob lands under
 * `blobs/sha256/<hex>` named by its own content. The config carries the
 * runtime settings of the image the filesystem came from (User, WorkingDir,
 * Env, Entrypoint, Cmd), so a snapshot boots the way the original did.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, type Gunzip } from 'node:zlib';

export const OCI_MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** Docker's media types, which an OCI layout written by skopeo may still hold. */
export const DOCKER_MEDIA_TYPES = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  manifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

/** Annotation naming a manifest's tag inside `index.json`. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** The runtime part of an image config that a rebuilt image keeps. */
export interface ImageRuntimeConfig {
  User?: string;
  WorkingDir?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, object>;
  StopSignal?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface BuildImageOptions {
  /** Directory of the OCI layout to write (created; may already hold other images). */
  layoutDir: string;
  /** The root filesystem as a tar stream, plain or gzip-compressed (detected). */
  rootfs: Readable;
  /** Runtime settings carried over from the original image. */
  config?: ImageRuntimeConfig;
  /** Tag recorded in `index.json` (default `latest`). */
  tag?: string;
  /** Compress the layer (default true). */
  gzip?: boolean;
  /** Architecture recorded in the config (default: this host's, in OCI spelling). */
  architecture?: string;
  /** Called with the number of uncompressed bytes read so far. */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

export interface BuiltImage {
  layoutDir: string;
  tag: string;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layerDigest: string;
  layerSize: number;
  diffId: string;
}

/** Host architecture in OCI spelling (`amd64`, `arm64`, ...). */
export function ociArchitecture(arch: string = process.arch): string {
  switch (arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    default:
      return arch;
  }
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Path of a blob inside a layout; rejects digests that are not sha256 hex. */
export function blobPath(layoutDir: string, digest: string): string {
  const match = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!match) throw new Error(`unsupported or malformed digest: ${digest}`);
  return join(layoutDir, 'blobs', 'sha256', match[1]!);
}

/** Hashes (and counts) whatever passes through. */
class HashingStream extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    callback(null, chunk);
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/**
 * Passes a tar stream through, inflating it first when it starts with the
 * gzip magic bytes, so callers may hand over either form.
 */
export class AutoGunzip extends Transform {
  private mode: 'unknown' | 'plain' | 'gzip' = 'unknown';
  private head = Buffer.alloc(0);
  private inflater: Gunzip | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.mode === 'unknown') {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < 2) {
        callback();
        return;
      }
      chunk = this.head;
      this.head = Buffer.alloc(0);
      this.mode = chunk[0] === 0x1f && chunk[1] === 0x8b ? 'gzip' : 'plain';
      if (this.mode === 'gzip') {
        this.inflater = createGunzip();
        this.inflater.on('data', (data: Buffer) => this.push(data));
        this.inflater.on('error', (error) => this.destroy(error));
      }
    }
    if (this.inflater) this.inflater.write(chunk, () => callback());
    else callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.mode === 'unknown' && this.head.length > 0) this.push(this.head);
    if (!this.inflater) {
      callback();
      return;
    }
    this.inflater.once('end', () => callback());
    this.inflater.end();
  }
}

async function writeBlob(layoutDir: string, data: Buffer | string): Promise<Descriptor & { data: Buffer }> {
  const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const digest = sha256Digest(buffer);
  const path = blobPath(layoutDir, digest);
  const tmp = `${path}.${randomBytes(4).toString('hex')}.partial`;
  await writeFile(tmp, buffer);
  await rename(tmp, path);
  return { mediaType: '', digest, size: buffer.length, data: buffer };
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Create the skeleton of an OCI layout (idempotent). */
export async function initLayout(layoutDir: string): Promise<void> {
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layoutDir, 'oci-layout'), `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`);
  try {
    await stat(join(layoutDir, 'index.json'));
  } catch {
    await writeFile(join(layoutDir, 'index.json'), `${JSON.stringify({ schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.index, manifests: [] })}\n`);
  }
}

/** Keep only the runtime fields an image config may carry over. */
export function pickRuntimeConfig(config: Record<string, unknown> | undefined | null): ImageRuntimeConfig {
  const out: ImageRuntimeConfig = {};
  if (!config) return out;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
  const arr = (v: unknown): string[] | undefined =>
    Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
  const user = str(config.User);
  if (user) out.User = user;
  const workdir = str(config.WorkingDir);
  if (workdir) out.WorkingDir = workdir;
  const env = arr(config.Env);
  if (env) out.Env = env;
  const entrypoint = arr(config.Entrypoint);
  if (entrypoint) out.Entrypoint = entrypoint;
  const cmd = arr(config.Cmd);
  if (cmd) out.Cmd = cmd;
  if (config.Labels && typeof config.Labels === 'object') out.Labels = config.Labels as Record<string, string>;
  if (config.ExposedPorts && typeof config.ExposedPorts === 'object') {
    out.ExposedPorts = config.ExposedPorts as Record<string, object>;
  }
  const stop = str(config.StopSignal);
  if (stop) out.StopSignal = stop;
  return out;
}

/**
 * Build a single-layer image from a root-filesystem tar into an OCI layout.
 * The layer is written to a partial file and renamed to its digest only
 * when the stream completed, so an interrupted build leaves no blob behind
 * under a valid name.
 */
export async function buildImageFromRootfs(options: BuildImageOptions): Promise<BuiltImage> {
  const { layoutDir, signal } = options;
  const tag = options.tag ?? 'latest';
  const gzip = options.gzip ?? true;
  signal?.throwIfAborted();
  await initLayout(layoutDir);

  const partial = join(layoutDir, 'blobs', 'sha256', `.layer-${randomBytes(6).toString('hex')}.partial`);
  const diffHash = new HashingStream(options.onProgress);
  const layerHash = new HashingStream();
  try {
    const stages: NodeJS.ReadWriteStream[] = [diffHash];
    if (gzip) stages.push(createGzip({ level: 6 }));
    stages.push(layerHash);
    await pipeline(options.rootfs, new AutoGunzip(), ...stages, createWriteStream(partial), signal ? { signal } : {});
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  const layerDigest = layerHash.digest();
  await rename(partial, blobPath(layoutDir, layerDigest));
  const diffId = diffHash.digest();

  const configJson = {
    created: new Date().toISOString(),
    architecture: options.architecture ?? ociArchitecture(),
    os: 'linux',
    config: options.config ?? {},
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: new Date().toISOString(), created_by: 'bot-bottle: root filesystem snapshot' }],
  };
  const configBlob = await writeBlob(layoutDir, JSON.stringify(configJson));
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: OCI_MEDIA_TYPES.manifest,
    config: { mediaType: OCI_MEDIA_TYPES.config, digest: configBlob.digest, size: configBlob.size },
    layers: [{ mediaType: gzip ? OCI_MEDIA_TYPES.layerGzip : OCI_MEDIA_TYPES.layer, digest: layerDigest, size: layerHash.bytes }],
  };
  const manifestBlob = await writeBlob(layoutDir, JSON.stringify(manifest));

  const indexPath = join(layoutDir, 'index.json');
  const index = await readJson<OciIndex>(indexPath);
  const manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== tag);
  manifests.push({
    mediaType: OCI_MEDIA_TYPES.manifest,
    digest: manifestBlob.digest,
    size: manifestBlob.size,
    annotations: { [REF_NAME_ANNOTATION]: tag },
  });
  const tmpIndex = `${indexPath}.${randomBytes(4).toString('hex')}.partial`;
  await writeFile(tmpIndex, `${JSON.stringify({ schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.index, manifests })}\n`);
  await rename(tmpIndex, indexPath);

  return {
    layoutDir,
    tag,
    manifestDigest: manifestBlob.digest,
    manifestSize: manifestBlob.size,
    configDigest: configBlob.digest,
    layerDigest,
    layerSize: layerHash.bytes,
    diffId,
  };
}

export interface ResolvedManifest {
  descriptor: Descriptor;
  manifest: OciManifest;
  raw: Buffer;
}

/**
 * The manifest a layout holds for `tag` (or its only image when `tag` is
 * omitted). Follows one level of image index to the entry for this host's
 * architecture, as layouts written by other tools may nest one.
 */
export async function resolveManifest(layoutDir: string, tag?: string): Promise<ResolvedManifest> {
  const index = await readJson<OciIndex>(join(layoutDir, 'index.json'));
  let candidates = index.manifests;
  if (tag !== undefined) {
    candidates = candidates.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
  }
  let descriptor = candidates[0];
  if (!descriptor || (tag === undefined && candidates.length > 1)) {
    throw new Error(`OCI layout ${layoutDir} has ${candidates.length} images${tag ? ` tagged ${tag}` : ''}; expected one`);
  }
  let raw = await readFile(blobPath(layoutDir, descriptor.digest));
  let parsed = JSON.parse(raw.toString('utf8')) as OciManifest | OciIndex;
  if ('manifests' in parsed) {
    const arch = ociArchitecture();
    const nested = parsed.manifests.find((m) => m.platform?.architecture === arch && m.platform.os === 'linux') ?? parsed.manifests[0];
    if (!nested) throw new Error(`OCI layout ${layoutDir}: empty image index`);
    descriptor = nested;
    raw = await readFile(blobPath(layoutDir, descriptor.digest));
    parsed = JSON.parse(raw.toString('utf8')) as OciManifest;
  }
  return { descriptor, manifest: parsed as OciManifest, raw };
}

/** The runtime config (User, WorkingDir, Env, Entrypoint, Cmd, ...) of an image in a layout. */
export async function readImageRuntimeConfig(layoutDir: string, tag?: string): Promise<ImageRuntimeConfig> {
  const { manifest } = await resolveManifest(layoutDir, tag);
  const config = await readJson<{ config?: Record<string, unknown> }>(blobPath(layoutDir, manifest.config.digest));
  return pickRuntimeConfig(config.config);
}

/** A readable stream of one blob. */
export function openBlob(layoutDir: string, digest: string): Readable {
  return createReadStream(blobPath(layoutDir, digest));
}
