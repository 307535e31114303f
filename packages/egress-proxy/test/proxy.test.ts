import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CertificateAuthority,
  ConfigError,
  EgressPolicy,
  formatEntry,
  parseConfig,
  parseLog,
  planEgress,
  proxyEnvironment,
  startEgressProxy,
  suggestedPattern,
  type EgressProxyConfig,
  type StartedEgressProxy,
} from '../src/index.js';
import { connectThrough, httpThrough, httpsThrough, loopbackLookup, startUpstreams, type Echo, type Upstreams } from './helpers.js';

const SECRET = 'ghp_test-secret-0123456789abcdef';

describe('EgressPolicy', () => {
  const policy = new EgressPolicy(['api.github.com', '*.npmjs.org', 'example.com:8443', 'LOUD.example']);

  it('allows exact names on 443 and 80 by default', () => {
    expect(policy.allows('api.github.com', 443)).toBe(true);
    expect(policy.allows('api.github.com', 80)).toBe(true);
    expect(policy.allows('api.github.com', 22)).toBe(false);
    expect(policy.allows('github.com', 443)).toBe(false);
    expect(policy.allows('evil-api.github.com', 443)).toBe(false);
  });

  it('wildcards match subdomains only', () => {
    expect(policy.allows('registry.npmjs.org', 443)).toBe(true);
    expect(policy.allows('a.b.npmjs.org', 443)).toBe(true);
    expect(policy.allows('npmjs.org', 443)).toBe(false);
    expect(policy.allows('evilnpmjs.org', 443)).toBe(false);
  });

  it('an explicit port replaces the defaults', () => {
    expect(policy.allows('example.com', 8443)).toBe(true);
    expect(policy.allows('example.com', 443)).toBe(false);
  });

  it('ignores case and a trailing dot', () => {
    expect(policy.allows('API.GitHub.com.', 443)).toBe(true);
    expect(policy.allows('loud.example', 443)).toBe(true);
  });

  it('suggests the entry that would allow a host', () => {
    expect(suggestedPattern('Denied.Test', 443)).toBe('denied.test');
    expect(suggestedPattern('denied.test', 8080)).toBe('denied.test:8080');
  });

  it('rejects malformed patterns', () => {
    expect(() => new EgressPolicy(['https://x.com'])).toThrow(/invalid allowed host/);
    expect(() => new EgressPolicy(['x.com:99999'])).toThrow(/invalid port/);
  });
});

describe('config', () => {
  it('parses and normalises a config', () => {
    const config = parseConfig({ bottle: 'dev', allow: ['a.test'], routes: [{ host: 'A.test', header: 'Authorization', fromEnv: 'T' }] });
    expect(config.routes).toEqual([{ host: 'a.test', header: 'authorization', fromEnv: 'T' }]);
  });

  it.each([
    [{}, 'bottle: is required'],
    [{ bottle: 'b', extra: 1 }, 'unknown key "extra"'],
    [{ bottle: 'b', allow: ['*'] }, 'allow: invalid allowed host'],
    [{ bottle: 'b', routes: [{ host: 'a', header: 'content-length', fromEnv: 'T' }] }, 'cannot be injected'],
    [{ bottle: 'b', listen: { port: 70000 } }, 'listen.port'],
  ])('rejects %j', (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(message);
  });

  it('plans from a manifest block, reading secrets from the operator environment', () => {
    const plan = planEgress(
      { bottleName: 'dev', slug: 'dev-abc12', egress: { allow: ['a.test'], routes: [{ host: 'a.test', header: 'authorization', fromEnv: 'TOK' }, { host: 'a.test', header: 'x-other', fromEnv: 'GONE' }] } },
      { TOK: 'v', OTHER: 'x' },
      { logFile: '/log' },
    );
    expect(plan.secrets).toEqual({ TOK: 'v' });
    expect(plan.missing).toEqual(['GONE']);
    expect(plan.config).toMatchObject({ bottle: 'dev', slug: 'dev-abc12', allow: ['a.test'], logFile: '/log' });
    expect(JSON.stringify(plan.config)).not.toContain('"v"');
    expect(proxyEnvironment('http://p:3128')).toMatchObject({ HTTPS_PROXY: 'http://p:3128', https_proxy: 'http://p:3128', NO_PROXY: 'localhost,127.0.0.1,::1' });
  });

  it('refuses to start a route without its secret', async () => {
    await expect(
      startEgressProxy({ bottle: 'b', allow: ['a.test'], routes: [{ host: 'a.test', header: 'authorization', fromEnv: 'T' }], listen: { host: '127.0.0.1', port: 0 } }, {}),
    ).rejects.toThrow('no value for T');
  });
});

describe('CertificateAuthority', () => {
  it('mints a CA and leaves it signed, per host, with SANs', () => {
    const ca = CertificateAuthority.mint({ label: 'unit' });
    const caCert = new X509Certificate(ca.certPem);
    expect(caCert.ca).toBe(true);
    expect(caCert.subject).toContain('bot-bottle egress CA unit');
    const leaf = new X509Certificate(ca.leafFor('api.example.com').certPem);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(caCert)).toBe(true);
    expect(leaf.verify(caCert.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe('DNS:api.example.com');
    expect(leaf.checkHost('api.example.com')).toBe('api.example.com');
    expect(new X509Certificate(ca.leafFor('10.1.2.3').certPem).subjectAltName).toBe('IP Address:10.1.2.3');
    expect(ca.leafFor('api.example.com')).toBe(ca.leafFor('api.example.com'));
    // Two CAs never share a key.
    expect(CertificateAuthority.mint().certPem).not.toBe(ca.certPem);
  });
});

describe('the proxy on loopback', () => {
  let upstreams: Upstreams;
  let dir: string;
  let proxy: StartedEgressProxy;
  let logFile: string;

  beforeAll(async () => {
    upstreams = await startUpstreams();
  });

  afterAll(async () => {
    await upstreams.close();
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bb-egress-test-'));
    logFile = join(dir, 'state', 'egress.log');
  });

  afterEach(async () => {
    await proxy?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(extra: Partial<EgressProxyConfig> = {}, upstreamCa = upstreams.ca.certPem): Promise<StartedEgressProxy> {
    const config: EgressProxyConfig = {
      bottle: 'dev',
      slug: 'dev-abc12',
      manifestFile: '/project/bot-bottle.json',
      allow: ['allowed.test', '*.wild.test', `plain.test:${upstreams.httpPort}`, `allowed.test:${upstreams.httpsPort}`, `secret.test:${upstreams.httpsPort}`],
      routes: [{ host: 'secret.test', header: 'authorization', fromEnv: 'GH_TOKEN' }],
      listen: { host: '127.0.0.1', port: 0 },
      logFile,
      ...extra,
    };
    proxy = await startEgressProxy(config, { GH_TOKEN: `Bearer ${SECRET}`, UNUSED: 'never-kept' }, { upstreamCa, lookup: loopbackLookup });
    return proxy;
  }

  const log = async () => parseLog(await readFile(logFile, 'utf8'));

  it('tunnels CONNECT to an allowed host; the client talks TLS with the real upstream', async () => {
    await start();
    const answer = await httpsThrough(proxy.port, 'allowed.test', upstreams.httpsPort, '/hello?q=1', { ca: upstreams.ca.certPem });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body) as Echo).toMatchObject({ url: '/hello?q=1', host: `allowed.test:${upstreams.httpsPort}` });
    expect(await log()).toEqual([
      expect.objectContaining({ decision: 'allow', method: 'CONNECT', host: 'allowed.test', port: upstreams.httpsPort, via: 'tunnel', rule: `allowed.test:${upstreams.httpsPort}`, slug: 'dev-abc12', bottle: 'dev' }),
    ]);
  });

  it('answers CONNECT to a host that is not allowed with 403 naming the host and the manifest key', async () => {
    await start();
    const answer = await connectThrough(proxy.port, 'denied.test:443');
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('CONNECT denied.test:443 is not allowed');
    expect(answer.body).toContain('add "denied.test" to bottles.dev.egress.allow in /project/bot-bottle.json');
    // An allowed name on a port that is not allowed is denied too.
    expect((await connectThrough(proxy.port, 'allowed.test:22')).body).toContain('add "allowed.test:22" to bottles.dev.egress.allow');
    // Wildcards: subdomains only.
    expect((await connectThrough(proxy.port, 'wild.test:443')).status).toBe(403);
    const entries = await log();
    expect(entries.map((entry) => [entry.decision, entry.host, entry.port, entry.status])).toEqual([
      ['deny', 'denied.test', 443, 403],
      ['deny', 'allowed.test', 22, 403],
      ['deny', 'wild.test', 443, 403],
    ]);
  });

  it('forwards plain HTTP to an allowed host and refuses others', async () => {
    await start();
    const allowed = await httpThrough(proxy.port, `http://plain.test:${upstreams.httpPort}/x?y=1`, { 'proxy-authorization': 'Basic Zm9v' });
    expect(allowed.status).toBe(200);
    const echo = JSON.parse(allowed.body) as Echo;
    expect(echo).toMatchObject({ url: '/x?y=1', host: `plain.test:${upstreams.httpPort}` });
    expect(echo.headers['proxy-authorization']).toBeUndefined();
    const denied = await httpThrough(proxy.port, `http://denied.test:${upstreams.httpPort}/`);
    expect(denied.status).toBe(403);
    expect(denied.headers['x-bot-bottle-egress']).toBe('denied');
    expect(denied.body).toContain(`add "denied.test:${upstreams.httpPort}" to bottles.dev.egress.allow`);
    const entries = await log();
    expect(entries[0]).toMatchObject({ decision: 'allow', method: 'GET', via: 'http', path: '/x?…', status: 200 });
    expect(entries[1]).toMatchObject({ decision: 'deny', method: 'GET', host: 'denied.test', status: 403 });
  });

  it('answers a request that is not a proxy request with 400', async () => {
    await start();
    const answer = await httpThrough(proxy.port, '/just-a-path');
    expect(answer.status).toBe(400);
  });

  it('injects the header for a routed host; the client sees the bottle CA, never the value', async () => {
    await start();
    // The client trusts only the proxy's CA: TLS is terminated by the proxy.
    const answer = await httpsThrough(proxy.port, 'secret.test', upstreams.httpsPort, '/user', {
      ca: proxy.caCertPem,
      headers: { authorization: 'Bearer forged-by-the-agent', 'x-kept': 'yes' },
      method: 'POST',
      body: 'payload',
    });
    expect(answer.status).toBe(200);
    const echo = JSON.parse(answer.body) as Echo;
    expect(echo.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(echo.headers['x-kept']).toBe('yes');
    expect(echo).toMatchObject({ method: 'POST', url: '/user', body: 'payload', host: `secret.test:${upstreams.httpsPort}` });
    // Nothing the client receives carries the value, apart from this echo server's deliberate reflection.
    expect(JSON.stringify(answer.headers)).not.toContain(SECRET);
    const text = await readFile(logFile, 'utf8');
    expect(text).not.toContain(SECRET);
    expect(parseLog(text)).toEqual([
      expect.objectContaining({ decision: 'allow', method: 'CONNECT', host: 'secret.test', via: 'tls' }),
      expect.objectContaining({ decision: 'allow', method: 'POST', host: 'secret.test', via: 'tls', path: '/user', injected: ['authorization'], status: 200 }),
    ]);
  });

  it('keeps a terminated connection alive across requests', async () => {
    await start();
    const first = await httpsThrough(proxy.port, 'secret.test', upstreams.httpsPort, '/1', { ca: proxy.caCertPem });
    const second = await httpsThrough(proxy.port, 'secret.test', upstreams.httpsPort, '/2', { ca: proxy.caCertPem });
    expect([first.status, second.status]).toEqual([200, 200]);
  });

  it('verifies the upstream against the configured CA bundle', async () => {
    const stranger = CertificateAuthority.mint({ label: 'not the upstream' });
    await start({}, stranger.certPem);
    const answer = await httpsThrough(proxy.port, 'secret.test', upstreams.httpsPort, '/', { ca: proxy.caCertPem });
    expect(answer.status).toBe(502);
    expect(answer.body).not.toContain(SECRET);
    const entries = await log();
    expect(entries.at(-1)).toMatchObject({ decision: 'error', host: 'secret.test', status: 502 });
  });

  it('writes the CA certificate where configured, and formats entries for people', async () => {
    await start({ caCertFile: join(dir, 'ca', 'ca.pem') });
    expect(await readFile(join(dir, 'ca', 'ca.pem'), 'utf8')).toBe(proxy.caCertPem);
    await connectThrough(proxy.port, 'denied.test:443');
    const [entry] = await log();
    expect(formatEntry(entry!)).toMatch(/^\S+ DENY {2}CONNECT denied\.test:443 {2}\(403; not in the allow list\)$/);
  });

  it('502s when an allowed host cannot be reached', async () => {
    await start({ allow: ['allowed.test:1'] });
    const answer = await connectThrough(proxy.port, 'allowed.test:1');
    expect(answer.status).toBe(502);
    expect((await log())[0]).toMatchObject({ decision: 'error', port: 1 });
  });
});
