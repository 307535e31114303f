/**
 * The forward proxy. It answers
 *   - CONNECT host:port  — allowed: a TCP tunnel, or, for a host with an
 *     injected credential, TLS terminated with a leaf of the bottle's CA,
 *     the header added, and a new TLS connection to the real host that is
 *     verified against the configured CA bundle;
 *   - GET http://host/…  — allowed: forwarded as plain HTTP (no credential is
 *     ever added to cleartext);
 *   - anything else      — 403 naming the host and the manifest key that
 *     would allow it.
 * Each decision is one line of the decision log.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { mkdirSync } from 'node:fs';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { CertificateAuthority } from './ca.js';
import { checkSecrets, type EgressProxyConfig, type EgressRoute, type EgressSecrets } from './config.js';
import { DecisionLog, type EgressLogEntry } from './log.js';
import { EgressPolicy, normaliseHost, suggestedPattern } from './policy.js';

export const DEFAULT_LISTEN_PORT = 3128;

export interface StartedEgressProxy {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, for HTTP_PROXY. */
  readonly url: string;
  /** The bottle's CA certificate (PEM): what the bottle must trust. */
  readonly caCertPem: string;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Use this CA instead of minting one (tests). */
  readonly ca?: CertificateAuthority;
  /** PEM bundle for upstream TLS; overrides config.upstreamCaFile. */
  readonly upstreamCa?: string;
  /** Name resolution for upstream connections (tests map names to loopback). */
  readonly lookup?: net.LookupFunction;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy's own: never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

interface Target {
  readonly host: string;
  readonly port: number;
}

function forwardHeaders(raw: IncomingMessage['headers'], drop: readonly string[] = []): OutgoingHttpHeaders {
  const listed = String(raw.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.includes(name) || drop.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

/** `host:port` of a CONNECT request (IPv6 in brackets). */
function parseAuthority(authority: string | undefined, defaultPort: number): Target | undefined {
  if (!authority) return undefined;
  try {
    const url = new URL(`http://${authority}`);
    if (url.username || url.password || url.pathname !== '/' || url.search) return undefined;
    const port = url.port === '' ? defaultPort : Number(url.port);
    return { host: normaliseHost(url.hostname), port };
  } catch {
    return undefined;
  }
}

class EgressProxy {
  readonly policy: EgressPolicy;
  readonly log: DecisionLog;
  readonly routes: ReadonlyMap<string, readonly EgressRoute[]>;
  private readonly terminated = new WeakMap<object, Target>();
  private readonly sockets = new Set<Duplex>();
  /** Serves requests decrypted from terminated TLS tunnels; never listens. */
  private readonly inner: http.Server;
  private readonly upstreamAgent: https.Agent;
  private readonly plainAgent = new http.Agent({ keepAlive: true });

  constructor(
    readonly config: EgressProxyConfig,
    private readonly secrets: EgressSecrets,
    readonly ca: CertificateAuthority,
    upstreamCa: string | undefined,
    private readonly lookup: net.LookupFunction | undefined,
  ) {
    this.policy = new EgressPolicy(config.allow);
    this.log = new DecisionLog(config.logFile);
    const routes = new Map<string, EgressRoute[]>();
    for (const route of config.routes) routes.set(route.host, [...(routes.get(route.host) ?? []), route]);
    this.routes = routes;
    this.upstreamAgent = new https.Agent({ keepAlive: true, ...(upstreamCa !== undefined ? { ca: upstreamCa } : {}) });
    this.inner = http.createServer((req, res) => this.onTerminatedRequest(req, res));
    this.inner.on('clientError', (_error, socket) => socket.destroy());
  }

  private record(entry: Omit<EgressLogEntry, 'time' | 'slug' | 'bottle'>): void {
    this.log.write({
      time: new Date().toISOString(),
      ...(this.config.slug !== undefined ? { slug: this.config.slug } : {}),
      bottle: this.config.bottle,
      ...entry,
    });
  }

  private denialBody(method: string, target: Target): string {
    const key = `bottles.${this.config.bottle}.egress.allow`;
    const pattern = suggestedPattern(target.host, target.port);
    const where = this.config.manifestFile ? ` in ${this.config.manifestFile}` : '';
    return [
      `bot-bottle egress: ${method} ${target.host}:${target.port} is not allowed for this bottle.`,
      `To allow it, add "${pattern}" to ${key}${where} and start the bottle again.`,
      '',
    ].join('\n');
  }

  track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** CONNECT host:port */
  onConnect(req: IncomingMessage, client: Duplex, head: Buffer): void {
    this.track(client);
    client.on('error', () => client.destroy());
    const target = parseAuthority(req.url, 443);
    if (target === undefined) {
      this.record({ decision: 'deny', method: 'CONNECT', host: String(req.url ?? ''), port: 0, via: 'tunnel', status: 400, reason: 'malformed CONNECT target' });
      client.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nbot-bottle egress: CONNECT needs host:port\n');
      return;
    }
    const rule = this.policy.match(target.host, target.port);
    if (rule === undefined) {
      const body = this.denialBody('CONNECT', target);
      this.record({ decision: 'deny', method: 'CONNECT', ...target, via: 'tunnel', status: 403, reason: 'not in the allow list' });
      client.end(
        `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Bot-Bottle-Egress: denied\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    if (this.routes.has(target.host)) {
      this.terminate(client, head, target, rule.pattern);
      return;
    }
    this.tunnel(client, head, target, rule.pattern);
  }

  private tunnel(client: Duplex, head: Buffer, target: Target, rule: string): void {
    const upstream = net.connect({ host: target.host, port: target.port, ...(this.lookup ? { lookup: this.lookup } : {}) });
    this.track(upstream);
    let established = false;
    upstream.once('connect', () => {
      established = true;
      this.record({ decision: 'allow', method: 'CONNECT', ...target, via: 'tunnel', rule, status: 200 });
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', (error) => {
      if (!established) {
        this.record({ decision: 'error', method: 'CONNECT', ...target, via: 'tunnel', rule, status: 502, reason: error.message });
        client.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nbot-bottle egress: cannot reach ${target.host}:${target.port}: ${error.message}\n`);
      } else {
        client.destroy();
      }
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  /** Answer the CONNECT ourselves and speak TLS with a leaf for the host; requests go to {@link onTerminatedRequest}. */
  private terminate(client: Duplex, head: Buffer, target: Target, rule: string): void {
    this.record({ decision: 'allow', method: 'CONNECT', ...target, via: 'tls', rule, status: 200, reason: 'terminated to inject headers' });
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) (client as Socket).unshift(head);
    const leaf = this.ca.leafFor(target.host);
    const secure = new tls.TLSSocket(client as Socket, {
      isServer: true,
      key: leaf.keyPem,
      cert: leaf.certPem,
      ALPNProtocols: ['http/1.1'],
    });
    secure.on('error', () => secure.destroy());
    this.track(secure);
    this.terminated.set(secure, target);
    this.inner.emit('connection', secure);
  }

  private onTerminatedRequest(req: IncomingMessage, res: ServerResponse): void {
    const target = this.terminated.get(req.socket);
    if (target === undefined) {
      res.writeHead(500).end();
      return;
    }
    const routes = this.routes.get(target.host) ?? [];
    const injected = routes.map((route) => route.header);
    // The bottle cannot override or learn an injected header: its own copy is dropped.
    const headers = forwardHeaders(req.headers, injected);
    headers.host = target.port === 443 ? target.host : `${target.host}:${target.port}`;
    for (const route of routes) headers[route.header] = this.secrets[route.fromEnv] ?? '';
    const path = req.url ?? '/';
    const upstream = https.request(
      {
        host: target.host,
        port: target.port,
        servername: net.isIP(target.host) ? undefined : target.host,
        method: req.method,
        path,
        headers,
        agent: this.upstreamAgent,
        ...(this.lookup ? { lookup: this.lookup } : {}),
      },
      (upstreamRes) => {
        this.record({ decision: 'allow', method: req.method ?? 'GET', ...target, via: 'tls', path: logPath(path), injected, status: upstreamRes.statusCode ?? 0 });
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, forwardHeaders(upstreamRes.headers));
        upstreamRes.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      this.record({ decision: 'error', method: req.method ?? 'GET', ...target, via: 'tls', path: logPath(path), status: 502, reason: error.message });
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`bot-bottle egress: ${target.host}:${target.port}: ${error.message}\n`);
      else res.destroy();
    });
    req.pipe(upstream);
  }

  /** A plain proxy request: `GET http://host/path`. */
  onRequest(req: IncomingMessage, res: ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bot-bottle egress: this is a forward proxy; send absolute http:// URLs or CONNECT\n');
      return;
    }
    if (url.protocol !== 'http:') {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`bot-bottle egress: ${url.protocol} URLs go through CONNECT\n`);
      return;
    }
    const target = { host: normaliseHost(url.hostname), port: url.port === '' ? 80 : Number(url.port) };
    const path = `${url.pathname}${url.search}`;
    const rule = this.policy.match(target.host, target.port);
    if (rule === undefined) {
      const method = req.method ?? 'GET';
      this.record({ decision: 'deny', method, ...target, via: 'http', path: logPath(path), status: 403, reason: 'not in the allow list' });
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', 'x-bot-bottle-egress': 'denied', connection: 'close' }).end(this.denialBody(method, target));
      req.resume();
      return;
    }
    const headers = forwardHeaders(req.headers);
    // RFC 9112 §3.2.2: the absolute URL's authority replaces whatever Host was sent.
    headers.host = url.host;
    const upstream = http.request(
      { host: target.host, port: target.port, method: req.method, path, headers, agent: this.plainAgent, ...(this.lookup ? { lookup: this.lookup } : {}) },
      (upstreamRes) => {
        this.record({ decision: 'allow', method: req.method ?? 'GET', ...target, via: 'http', path: logPath(path), rule: rule.pattern, status: upstreamRes.statusCode ?? 0 });
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, forwardHeaders(upstreamRes.headers));
        upstreamRes.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      this.record({ decision: 'error', method: req.method ?? 'GET', ...target, via: 'http', path: logPath(path), rule: rule.pattern, status: 502, reason: error.message });
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`bot-bottle egress: cannot reach ${target.host}:${target.port}: ${error.message}\n`);
      else res.destroy();
    });
    req.pipe(upstream);
  }

  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.upstreamAgent.destroy();
    this.plainAgent.destroy();
  }
}

/** Paths are logged without the query string, which may carry tokens the agent holds. */
function logPath(path: string): string {
  const at = path.indexOf('?');
  return at >= 0 ? `${path.slice(0, at)}?…` : path;
}

/** Start the proxy. Resolves once it listens (and the CA certificate is written, when configured). */
export async function startEgressProxy(
  config: EgressProxyConfig,
  secrets: EgressSecrets = {},
  options: StartOptions = {},
): Promise<StartedEgressProxy> {
  checkSecrets(config, secrets);
  const upstreamCa = options.upstreamCa ?? (config.upstreamCaFile !== undefined ? readFileSync(config.upstreamCaFile, 'utf8') : undefined);
  const ca = options.ca ?? CertificateAuthority.mint({ label: config.slug ?? config.bottle });
  // Only the secrets the routes use are kept.
  const kept: Record<string, string> = {};
  for (const route of config.routes) kept[route.fromEnv] = secrets[route.fromEnv] as string;
  const proxy = new EgressProxy(config, kept, ca, upstreamCa, options.lookup);

  const server = http.createServer((req, res) => proxy.onRequest(req, res));
  server.on('connect', (req, socket, head) => proxy.onConnect(req, socket, head));
  server.on('connection', (socket) => proxy.track(socket));
  server.on('clientError', (_error, socket) => socket.destroy());
  // Requests can be long (streams, package downloads); only idle sockets time out.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 30_000;

  const host = config.listen?.host ?? '0.0.0.0';
  const port = config.listen?.port ?? DEFAULT_LISTEN_PORT;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  if (config.caCertFile !== undefined) {
    mkdirSync(dirname(config.caCertFile), { recursive: true });
    writeFileSync(config.caCertFile, ca.certPem, { mode: 0o644 });
  }
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    host: address.address,
    port: address.port,
    url: `http://${shownHost}:${address.port}`,
    caCertPem: ca.certPem,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        proxy.destroyAll();
        server.closeAllConnections();
        proxy.log.close();
      }),
  };
}
