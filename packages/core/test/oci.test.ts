import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createGzip, gunzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  buildImageFromRootfs,
  readImageRuntimeConfig,
  resolveManifest,
  serveOciLayout,
  sha256Digest,
  withServedImage,
  blobPath,
} from '../src/oci/index.js';

const run = promisify(execFile);

function rootfsTar(files: Record<string, string>): Readable {
  const p = pack();
  for (const [name, body] of Object.entries(files)) p.entry({ name, uid: 1000, gid: 1000, mode: 0o644 }, body);
  p.finalize();
  return p as unknown as Readable;
}

function skopeoAvailable(): boolean {
  try {
    execFileSync('skopeo', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

function get(url: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bb-oci-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = { User: 'node', WorkingDir: '/home/node', Env: ['HOME=/home/node'], Cmd: ['fixture-agent'] };

describe('OCI image from a rootfs tar', () => {
  it('writes content-addressed blobs and carries the original runtime config', async () => {
    const layout = join(dir, 'layout');
    const built = await buildImageFromRootfs({ layoutDir: layout, rootfs: rootfsTar({ 'etc/hello': 'hi\n' }), config, tag: 'v1' });
    for (const digest of [built.manifestDigest, built.configDigest, built.layerDigest]) {
      expect(sha256Digest(await readFile(blobPath(layout, digest)))).toBe(digest);
    }
    // diff id is the digest of the uncompressed layer
    expect(sha256Digest(gunzipSync(await readFile(blobPath(layout, built.layerDigest))))).toBe(built.diffId);
    expect(await readImageRuntimeConfig(layout, 'v1')).toEqual(config);
    const { manifest } = await resolveManifest(layout, 'v1');
    expect(manifest.layers[0]?.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(JSON.parse(await readFile(join(layout, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
  });

  it('accepts a gzip-compressed rootfs and can leave the layer uncompressed', async () => {
    const layout = join(dir, 'layout');
    const plain = await buildImageFromRootfs({ layoutDir: join(dir, 'a'), rootfs: rootfsTar({ a: '1' }), gzip: false });
    const fromGz = await buildImageFromRootfs({ layoutDir: layout, rootfs: rootfsTar({ a: '1' }).pipe(createGzip()), gzip: false });
    expect(fromGz.diffId).toBe(plain.diffId);
    expect(fromGz.layerDigest).toBe(fromGz.diffId);
  });

  it('leaves no partial blob behind when aborted', async () => {
    const layout = join(dir, 'layout');
    const controller = new AbortController();
    const endless = new Readable({ read() { this.push(Buffer.alloc(65536)); } });
    setTimeout(() => controller.abort(), 50);
    await expect(buildImageFromRootfs({ layoutDir: layout, rootfs: endless, signal: controller.signal })).rejects.toThrow();
    expect(await readdir(join(layout, 'blobs', 'sha256'))).toEqual([]);
  });
});

describe('short-lived OCI distribution endpoint', () => {
  it('serves manifests and blobs with the right headers and stops afterwards', async () => {
    const layout = join(dir, 'layout');
    const built = await buildImageFromRootfs({ layoutDir: layout, rootfs: rootfsTar({ x: 'y' }), config, tag: 't1' });
    let base = '';
    await withServedImage(layout, async (served) => {
      base = `http://${served.address}`;
      expect(served.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const v2 = await get(`${base}/v2/`);
      expect(v2.status).toBe(200);
      expect(v2.headers['docker-distribution-api-version']).toBe('registry/2.0');
      for (const ref of ['t1', built.manifestDigest]) {
        const m = await get(`${base}/v2/${served.name}/manifests/${ref}`);
        expect(m.status).toBe(200);
        expect(m.headers['content-type']).toBe('application/vnd.oci.image.manifest.v1+json');
        expect(m.headers['docker-content-digest']).toBe(built.manifestDigest);
        expect(sha256Digest(m.body)).toBe(built.manifestDigest);
      }
      const headBlob = await get(`${base}/v2/${served.name}/blobs/${built.layerDigest}`, 'HEAD');
      expect(headBlob.status).toBe(200);
      expect(headBlob.body.length).toBe(0);
      expect(Number(headBlob.headers['content-length'])).toBe(built.layerSize);
      const blob = await get(`${base}/v2/${served.name}/blobs/${built.layerDigest}`);
      expect(sha256Digest(blob.body)).toBe(built.layerDigest);
      expect((await get(`${base}/v2/${served.name}/manifests/nope`)).status).toBe(404);
      expect((await get(`${base}/v2/other/manifests/t1`)).status).toBe(404);
      expect((await get(`${base}/v2/${served.name}/blobs/sha256:${'0'.repeat(64)}`)).status).toBe(404);
      expect((await get(`${base}/v2/${served.name}/manifests/t1`, 'DELETE')).status).toBe(405);
    });
    await expect(get(`${base}/v2/`)).rejects.toThrow();
  });

  it('stops when the pull fails too', async () => {
    const layout = join(dir, 'layout');
    await buildImageFromRootfs({ layoutDir: layout, rootfs: rootfsTar({ x: 'y' }) });
    let base = '';
    await expect(
      withServedImage(layout, async (served) => {
        base = `http://${served.address}`;
        throw new Error('pack failed');
      }),
    ).rejects.toThrow('pack failed');
    await expect(get(`${base}/v2/`)).rejects.toThrow();
  });

  it.runIf(skopeoAvailable())('is readable by skopeo (inspect and copy)', async () => {
    const layout = join(dir, 'layout');
    const built = await buildImageFromRootfs({ layoutDir: layout, rootfs: rootfsTar({ 'home/node/f': 'data' }), config, tag: 'snap' });
    const served = await serveOciLayout(layout, { name: 'bot-bottle/committed-demo' });
    try {
      const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${served.reference('snap')}`]);
      const info = JSON.parse(stdout) as { Digest: string; Layers: string[]; Env: string[]; Os: string };
      expect(info.Digest).toBe(built.manifestDigest);
      expect(info.Layers).toEqual([built.layerDigest]);
      expect(info.Env).toEqual(config.Env);
      expect(info.Os).toBe('linux');
      const { stdout: cfg } = await run('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://${served.reference('snap')}`]);
      expect((JSON.parse(cfg) as { config: unknown }).config).toEqual(config);
      const copied = join(dir, 'copied');
      await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${served.reference('snap')}`, `oci:${copied}:snap`]);
      expect(await readImageRuntimeConfig(copied, 'snap')).toEqual(config);
      const { manifest } = await resolveManifest(copied, 'snap');
      expect(manifest.layers[0]?.digest).toBe(built.layerDigest);
    } finally {
      await served.close();
    }
  });
});
