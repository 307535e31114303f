import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { AddressInfo, LookupFunction, Socket } from 'node:net';
import tls from 'node:tls';
import { CertificateAuthority } from '../src/index.js';

export interface Echo {
  readonly method: string;
  readonly url: string;
  readonly host: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** An upstream that answers every request with what it received, as JSON. */
function echoHandler(label: string) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const echo: Echo & { server: string } = {
        server: label,
        method: req.method ?? '',
        url: req.url ?? '',
        host: req.headers.host ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const body = JSON.stringify(echo);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  };
}

export interface Upstreams {
  readonly ca: CertificateAuthority;
  readonly httpsPort: number;
  readonly httpPort: number;
  close(): Promise<void>;
}

/** An HTTPS echo server (leaf per SNI name from its own CA) and an HTTP one, on loopback. */
export async function startUpstreams(): Promise<Upstreams> {
  const ca = CertificateAuthority.mint({ label: 'test upstream' });
  const fallback = ca.leafFor('localhost');
  const secure = https.createServer(
    {
      key: fallback.keyPem,
      cert: fallback.certPem,
      SNICallback: (name, done) => {
        const leaf = ca.leafFor(name);
        done(null, tls.createSecureContext({ key: leaf.keyPem, cert: leaf.certPem }));
      },
    },
    echoHandler('https'),
  );
  const plain = http.createServer(echoHandler('http'));
  await Promise.all([
    new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve)),
    new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve)),
  ]);
  return {
    ca,
    httpsPort: (secure.address() as AddressInfo).port,
    httpPort: (plain.address() as AddressInfo).port,
    close: async () => {
      secure.closeAllConnections();
      plain.closeAllConnections();
      await Promise.all([new Promise((resolve) => secure.close(resolve)), new Promise((resolve) => plain.close(resolve))]);
    },
  };
}

/** Resolve every name to 127.0.0.1, so tests can use real-looking host names on loopback. */
export const loopbackLookup: LookupFunction = (_hostname, options, callback) => {
  const cb = callback as unknown as (...args: unknown[]) => void;
  if ((options as { all?: boolean }).all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
};

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Open a CONNECT tunnel through the proxy; resolves with the status and, on 200, the socket. */
export function connectThrough(
  proxyPort: number,
  authority: string,
): Promise<{ status: number; body: string; socket?: Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: authority, agent: false });
    req.on('connect', (res, socket, head) => {
      if (res.statusCode === 200) {
        if (head.length > 0) socket.unshift(head);
        resolve({ status: 200, body: '', socket });
        return;
      }
      const chunks: Buffer[] = [head];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      socket.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** An HTTPS request through the proxy's CONNECT, trusting `ca`. */
export async function httpsThrough(
  proxyPort: number,
  host: string,
  port: number,
  path: string,
  options: { ca: string; headers?: Record<string, string>; method?: string; body?: string },
): Promise<Answer> {
  const tunnel = await connectThrough(proxyPort, `${host}:${port}`);
  if (tunnel.socket === undefined) return { status: tunnel.status, headers: {}, body: tunnel.body };
  const socket = tunnel.socket;
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host,
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        // No agent: with one, Node ignores createConnection.
        createConnection: () => tls.connect({ socket, servername: host, ca: options.ca }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A plain HTTP proxy request: `GET http://host:port/path` sent to the proxy. */
export function httpThrough(proxyPort: number, url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'GET', path: url, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}
