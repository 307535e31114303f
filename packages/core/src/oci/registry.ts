/**
 * A short-lived, read-only OCI distribution endpoint over one image layout.
 *
 * It answers the pull side of the distribution spec and nothing else:
 *   GET|HEAD /v2/                              -> 200 {}
 *   GET|HEAD /v2/<name>/manifests/<tag|digest> -> the manifest (or index) blob
 *   GET|HEAD /v2/<name>/blobs/<digest>         -> any blob of the layout
 *   GET|HEAD /v2/<name>/tags/list              -> the tags of `index.json`
 * It listens on 127.0.0.1 on a random port and is meant to live exactly as
 * long as one pull: {@link withServedImage} closes it whether the pull
 * succeeded or failed.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { blobPath, OCI_MEDIA_TYPES, REF_NAME_ANNOTATION, type OciIndex } from './layout.js';

export interface ServeOptions {
  /** Repository name the image is served under (default `bot-bottle/snapshot`). */
  name?: string;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: a random free port). */
  port?: number;
}

export interface ServedLayout {
  /** `127.0.0.1:PORT` */
  readonly address: string;
  readonly port: number;
  readonly name: string;
  /** `127.0.0.1:PORT/<name>:<tag>` */
  reference(tag: string): string;
  /** Requests answered so far, for diagnostics and tests. */
  readonly requests: readonly string[];
  close(): Promise<void>;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function sendError(res: ServerResponse, status: number, code: string, message: string, head: boolean): void {
  const body = JSON.stringify({ errors: [{ code, message }] });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

/** Start serving `layoutDir` read-only. Call `close()` when the pull is over. */
export async function serveOciLayout(layoutDir: string, options: ServeOptions = {}): Promise<ServedLayout> {
  const name = options.name ?? 'bot-bottle/snapshot';
  const requests: string[] = [];
  const sockets = new Set<Socket>();

  const manifestFor = async (reference: string): Promise<{ digest: string; mediaType: string } | undefined> => {
    const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as OciIndex;
    if (DIGEST.test(reference)) {
      const listed = index.manifests.find((m) => m.digest === reference);
      if (listed) return { digest: listed.digest, mediaType: listed.mediaType };
      // A manifest nested in an image index is addressed only by digest.
      try {
        const raw = JSON.parse(await readFile(blobPath(layoutDir, reference), 'utf8')) as { mediaType?: string };
        if (typeof raw.mediaType === 'string' && /manifest|index/.test(raw.mediaType)) {
          return { digest: reference, mediaType: raw.mediaType };
        }
      } catch {
        return undefined;
      }
      return undefined;
    }
    if (!TAG.test(reference)) return undefined;
    const tagged = index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === reference);
    return tagged ? { digest: tagged.digest, mediaType: tagged.mediaType } : undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://registry').pathname;
    requests.push(`${method} ${path}`);
    const head = method === 'HEAD';
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (method !== 'GET' && method !== 'HEAD') {
      sendError(res, 405, 'UNSUPPORTED', 'this registry is read-only', head);
      return;
    }
    if (path === '/v2' || path === '/v2/') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 2 });
      res.end(head ? undefined : '{}');
      return;
    }
    const tags = /^\/v2\/(.+)\/tags\/list$/.exec(path);
    if (tags && tags[1] === name) {
      const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as OciIndex;
      const list = index.manifests.flatMap((m) => m.annotations?.[REF_NAME_ANNOTATION] ?? []);
      const body = JSON.stringify({ name, tags: list });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(head ? undefined : body);
      return;
    }
    const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    if (!match || match[1] !== name) {
      sendError(res, 404, 'NAME_UNKNOWN', `repository not served here: ${match?.[1] ?? path}`, head);
      return;
    }
    const kind = match[2]!;
    const reference = decodeURIComponent(match[3]!);
    if (kind === 'manifests') {
      const found = await manifestFor(reference);
      if (!found) {
        sendError(res, 404, 'MANIFEST_UNKNOWN', `manifest unknown: ${reference}`, head);
        return;
      }
      const body = await readFile(blobPath(layoutDir, found.digest));
      res.writeHead(200, {
        'Content-Type': found.mediaType || OCI_MEDIA_TYPES.manifest,
        'Content-Length': body.length,
        'Docker-Content-Digest': found.digest,
      });
      res.end(head ? undefined : body);
      return;
    }
    if (!DIGEST.test(reference)) {
      sendError(res, 400, 'DIGEST_INVALID', `invalid digest: ${reference}`, head);
      return;
    }
    const file = blobPath(layoutDir, reference);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch {
      sendError(res, 404, 'BLOB_UNKNOWN', `blob unknown: ${reference}`, head);
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': size,
      'Docker-Content-Digest': reference,
    });
    if (head) {
      res.end();
      return;
    }
    const stream = createReadStream(file);
    stream.on('error', (error) => res.destroy(error));
    stream.pipe(res);
  };

  // node:http is loaded here, not at the top: as an ES import it also
  // evaluates undici's lazy exports (25-85 ms), and every CLI command imports
  // core's index while only a smolmachines launch serves an image.
  const { createServer } = await import('node:http');
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy(error as Error);
      else sendError(res, 500, 'UNKNOWN', (error as Error).message, req.method === 'HEAD');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const address = `${host}:${port}`;
  let closed: Promise<void> | undefined;
  return {
    address,
    port,
    name,
    requests,
    reference: (tag: string) => `${address}/${name}:${tag}`,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}

/** Serve `layoutDir` for the duration of `fn`, then stop, whatever `fn` did. */
export async function withServedImage<T>(
  layoutDir: string,
  fn: (served: ServedLayout) => Promise<T>,
  options: ServeOptions = {},
): Promise<T> {
  const served = await serveOciLayout(layoutDir, options);
  try {
    return await fn(served);
  } finally {
    await served.close();
  }
}
