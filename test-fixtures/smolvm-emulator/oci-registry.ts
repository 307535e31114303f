// A minimal, read-only OCI distribution server for the smolvm EMULATOR's e2e
// tests: serves one OCI image layout directory (as written by
// `skopeo copy ... oci:<dir>:<tag>`) on 127.0.0.1 over plain http.
// GET/HEAD /v2/, /v2/<name>/manifests/<tag|digest>, /v2/<name>/blobs/<digest>.
import { spawn } from 'node:child_process';
import { appendFileSync, createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LoopbackRegistry {
  /** host:port, e.g. 127.0.0.1:43121 */
  host: string;
  /** Paths requested so far (method + url), for assertions. */
  requests: string[];
  close(): Promise<void>;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export async function serveOciLayout(layoutDir: string, repoName: string, logFile?: string): Promise<LoopbackRegistry> {
  const index = JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const blobPath = (digest: string): string | undefined => {
    const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
    if (!m) return undefined;
    const p = join(layoutDir, 'blobs', 'sha256', m[1] as string);
    return existsSync(p) ? p : undefined;
  };
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}`);
    if (logFile) appendFileSync(logFile, `${req.method} ${url.pathname}\n`);
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.writeHead(405).end();
      return;
    }
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(head ? undefined : '{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m || m[1] !== repoName) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(head ? undefined : JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known' }] }));
      return;
    }
    const kind = m[2];
    const ref = decodeURIComponent(m[3] as string);
    let desc: Descriptor | undefined;
    if (kind === 'manifests') {
      desc = ref.startsWith('sha256:')
        ? index.manifests.find((d) => d.digest === ref)
        : index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === ref);
    }
    const digest = desc?.digest ?? ref;
    const path = blobPath(digest);
    if (!path) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(head ? undefined : JSON.stringify({ errors: [{ code: kind === 'blobs' ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN', message: 'unknown' }] }));
      return;
    }
    let contentType = 'application/octet-stream';
    if (kind === 'manifests') {
      contentType = desc?.mediaType ?? (JSON.parse(readFileSync(path, 'utf8')) as { mediaType?: string }).mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
    }
    res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': String(statSync(path).size), 'Docker-Content-Digest': digest });
    if (head) res.end();
    else createReadStream(path).pipe(res);
  });
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolvePromise) => {
        server.closeAllConnections();
        server.close(() => resolvePromise());
      }),
  };
}

/**
 * Run the registry in a child process, so tests that block on spawnSync
 * (while skopeo pulls from it) don't starve it. Requests are logged, one per
 * line, to `logFile`.
 */
export async function startRegistryProcess(layoutDir: string, repoName: string, logFile: string): Promise<LoopbackRegistry> {
  const child = spawn(process.execPath, ['--no-warnings', fileURLToPath(import.meta.url), layoutDir, repoName, logFile], {
    stdio: ['pipe', 'pipe', 'inherit'], // child exits when its stdin closes (parent gone)
  });
  const host = await new Promise<string>((resolvePromise, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolvePromise(buf.slice(0, nl).trim());
    });
    child.on('exit', (code) => reject(new Error(`registry process exited early (${code})`)));
  });
  return {
    host,
    get requests(): string[] {
      return existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [];
    },
    close: () =>
      new Promise<void>((resolvePromise) => {
        if (child.exitCode !== null) return resolvePromise();
        child.once('exit', () => resolvePromise());
        child.kill('SIGTERM');
      }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [layoutDir, repoName, logFile] = process.argv.slice(2) as [string, string, string | undefined];
  const reg = await serveOciLayout(layoutDir, repoName, logFile);
  process.stdout.write(`${reg.host}\n`);
  process.on('SIGTERM', () => void reg.close().then(() => process.exit(0)));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.resume();
}
