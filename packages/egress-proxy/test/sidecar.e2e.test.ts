/**
 * The egress sidecar on a real Docker engine, in the topology the Docker
 * backend uses: the agent alone on an internal network, the proxy on that
 * network and an outbound one, and an upstream of our own (HTTPS with its
 * own test CA, and HTTP) on a third network only the proxy joins.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithoutDocker } from '../../../test-fixtures/lib/engine-gate.js';
import { ensureFixtureNodeImage, NODE_BINARY } from '../../../test-fixtures/lib/node-image.js';
import {
  CertificateAuthority,
  TRUST_CA_SCRIPT,
  agentEgressEnvironment,
  engineRunner,
  ensureSidecarImage,
  parseLog,
  planEgress,
  removeSidecar,
  startSidecar,
  type RunningSidecar,
} from '../src/index.js';

const skip = skipWithoutDocker();
const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, '..', '..', '..', 'test-fixtures', 'egress');
const AGENT_IMAGE = 'bot-bottle-fixture-agent:latest';

const id = randomBytes(3).toString('hex');
const slug = `egress-e2e-${id}`;
const SECRET = `bbE2eSecret${randomBytes(12).toString('hex')}`;
const agentName = `bot-bottle-${slug}`;
const internalNet = `bot-bottle-${slug}`;
const upstreamNet = `bb-egress-e2e-up-${id}`;
const upstreamName = `bb-egress-e2e-up-${id}`;
const snapshot = `bot-bottle-egress-e2e-snap-${id}:latest`;
const resumedName = `bot-bottle-${slug}-resumed`;
const labels = { 'dev.bot-bottle.slug': slug, 'dev.bot-bottle.test': 'egress-e2e' };

const run = engineRunner('docker');
let work: string;
let sidecar: RunningSidecar;
let sidecarImage: string;
let upstreamCa: CertificateAuthority;

function docker(args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const result = spawnSync('docker', args, { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

function must(args: string[], input?: string): string {
  const result = docker(args, input);
  if (result.status !== 0) throw new Error(`docker ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** Run the client inside a bottle as the agent user, with the container's environment. */
function client(container: string, ...args: string[]): Record<string, unknown> {
  const out = must(['exec', '-u', 'node', container, 'node', '/opt/egress/client.mjs', ...args]);
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
}

function startAgent(name: string, image: string, proxyUrl: string): void {
  const env = agentEgressEnvironment(proxyUrl);
  must([
    'run', '-d', '--name', name, '--network', internalNet,
    ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    '--user', '0', '--cap-drop', 'ALL', '--cap-add', 'CHOWN', '--cap-add', 'DAC_OVERRIDE', '--cap-add', 'FOWNER',
    '--security-opt', 'no-new-privileges',
    ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    '--mount', `type=bind,source=${NODE_BINARY},target=/usr/local/bin/node,readonly`,
    '--mount', `type=bind,source=${fixtures},target=/opt/egress,readonly`,
    '--entrypoint', 'sleep', image, 'infinity',
  ]);
}

/**
 * Trust the bottle's CA the way a launch does. The test upstream's CA goes
 * along: it stands in for the public roots that real upstreams (reached
 * through plain tunnels) chain to.
 */
function trustCa(container: string, pem: string): void {
  must(['exec', '-i', '-u', '0', container, 'sh', '-c', TRUST_CA_SCRIPT], `${pem.trim()}\n${upstreamCa.certPem.trim()}\n`);
}

async function launchSidecar(): Promise<RunningSidecar> {
  const plan = planEgress(
    {
      bottleName: 'dev',
      slug,
      manifestFile: '/project/bot-bottle.json',
      egress: { allow: ['allowed.test', 'secret.test'], routes: [{ host: 'secret.test', header: 'authorization', fromEnv: 'E2E_TOKEN' }] },
    },
    { E2E_TOKEN: `Bearer ${SECRET}` },
  );
  expect(plan.missing).toEqual([]);
  const started = await startSidecar(run, {
    slug,
    image: sidecarImage,
    internalNetwork: internalNet,
    config: plan.config,
    secrets: plan.secrets,
    logFile: join(work, 'state', slug, 'egress.log'),
    upstreamCaFile: join(work, 'upstream-ca.pem'),
    labels,
  });
  // The upstream lives on a network of its own; only the proxy joins it.
  must(['network', 'connect', upstreamNet, started.name]);
  return started;
}

describe.skipIf(skip)('egress sidecar on Docker', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'bb-egress-e2e-'));
    const nodeImage = ensureFixtureNodeImage();
    sidecarImage = await ensureSidecarImage(run, nodeImage);

    upstreamCa = CertificateAuthority.mint({ label: 'e2e upstream' });
    writeFileSync(join(work, 'upstream-ca.pem'), upstreamCa.certPem);
    const certs = join(work, 'certs');
    mkdirSync(certs);
    const names = ['allowed.test', 'secret.test', 'denied.test'];
    for (const name of names) {
      const leaf = upstreamCa.leafFor(name);
      writeFileSync(join(certs, `${name}.crt`), leaf.certPem);
      writeFileSync(join(certs, `${name}.key`), leaf.keyPem);
    }
    writeFileSync(join(certs, 'names'), `${names.join('\n')}\n`);
    mkdirSync(join(work, 'record'), { mode: 0o777 });

    must(['network', 'create', '--label', 'dev.bot-bottle.test=egress-e2e', upstreamNet]);
    must([
      'run', '-d', '--name', upstreamName, '--network', upstreamNet,
      '--label', 'dev.bot-bottle.test=egress-e2e',
      ...names.flatMap((name) => ['--network-alias', name]),
      '--mount', `type=bind,source=${certs},target=/certs,readonly`,
      '--mount', `type=bind,source=${join(work, 'record')},target=/record`,
      '--mount', `type=bind,source=${fixtures},target=/srv,readonly`,
      nodeImage, 'node', '/srv/upstream.mjs',
    ]);
    for (let i = 0; i < 100 && !/http ready/.test(must(['logs', upstreamName])); i += 1) await new Promise((r) => setTimeout(r, 100));

    must(['network', 'create', '--internal', ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]), internalNet]);
    sidecar = await launchSidecar();
    startAgent(agentName, AGENT_IMAGE, sidecar.proxyUrl);
    trustCa(agentName, sidecar.caCertPem);
  });

  afterAll(async () => {
    for (const name of [agentName, resumedName, upstreamName]) docker(['rm', '-f', name]);
    await removeSidecar(run, slug).catch(() => undefined);
    for (const net of [internalNet, upstreamNet]) docker(['network', 'rm', net]);
    docker(['rmi', '-f', snapshot]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('an allowed host answers through the proxy, over HTTPS and HTTP', () => {
    expect(client(agentName, 'get', 'https://allowed.test/hello')).toMatchObject({ status: 200 });
    expect(JSON.parse(String(client(agentName, 'get', 'https://allowed.test/hello').body))).toMatchObject({ scheme: 'https', url: '/hello' });
    const plain = client(agentName, 'get', 'http://allowed.test/plain');
    expect(plain.status).toBe(200);
    expect(JSON.parse(String(plain.body))).toMatchObject({ scheme: 'http', url: '/plain', host: 'allowed.test' });
  });

  it('a host that is not allowed gets the 403 naming the manifest key', () => {
    const answer = client(agentName, 'get', 'https://denied.test/');
    expect(answer).toMatchObject({ status: 403, stage: 'connect' });
    expect(String(answer.body)).toContain('add "denied.test" to bottles.dev.egress.allow in /project/bot-bottle.json');
    const plain = client(agentName, 'get', 'http://denied.test/');
    expect(plain.status).toBe(403);
  });

  it('a direct connection that skips the proxy fails', () => {
    expect(client(agentName, 'direct', 'allowed.test', '443')).toMatchObject({ connected: false });
    const upstreamIp = must(['inspect', '--format', `{{(index .NetworkSettings.Networks "${upstreamNet}").IPAddress}}`, upstreamName]).trim();
    expect(upstreamIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(client(agentName, 'direct', upstreamIp, '443')).toMatchObject({ connected: false });
    expect(client(agentName, 'direct', '1.1.1.1', '443')).toMatchObject({ connected: false });
  });

  it('the injected header reaches the upstream; the agent never sees its value', () => {
    const answer = client(agentName, 'get', 'https://secret.test/user');
    expect(answer.status).toBe(200);
    expect(JSON.parse(String(answer.body))).toMatchObject({ scheme: 'https', sawAuthorization: true });
    const records = readFileSync(join(work, 'record', 'requests.jsonl'), 'utf8');
    expect(records).toContain(`"authorization":"Bearer ${SECRET}"`);

    expect(must(['exec', agentName, 'env'])).not.toContain(SECRET);
    expect(must(['exec', '-u', '0', agentName, 'cat', '/proc/1/environ'])).not.toContain(SECRET);
    const grep = docker(['exec', '-u', '0', agentName, 'grep', '-r', '-l', '-F', SECRET, '/', '--exclude-dir=proc', '--exclude-dir=sys', '--exclude-dir=dev']);
    expect(grep.stdout).toBe('');
    expect(grep.status).toBe(1);
    expect(must(['inspect', agentName])).not.toContain(SECRET);
    expect(must(['inspect', internalNet])).not.toContain(SECRET);
  });

  it('every decision is in the bottle state egress.log, without the secret', () => {
    const text = readFileSync(join(work, 'state', slug, 'egress.log'), 'utf8');
    expect(text).not.toContain(SECRET);
    const entries = parseLog(text);
    expect(entries.some((e) => e.decision === 'deny' && e.host === 'denied.test' && e.status === 403)).toBe(true);
    expect(entries.some((e) => e.decision === 'allow' && e.host === 'secret.test' && e.injected?.includes('authorization'))).toBe(true);
    expect(entries.every((e) => e.slug === slug)).toBe(true);
  });

  it('a snapshot committed afterwards does not contain the secret anywhere', () => {
    // A canary proves the bytes searched really hold the bottle's files.
    const canary = `bbCanary${randomBytes(8).toString('hex')}`;
    must(['exec', '-u', 'node', agentName, 'sh', '-c', `echo ${canary} > /home/node/canary.txt`]);
    // --pause=false: a paused commit can deadlock against a concurrent exec on Docker 20.10.
    must(['commit', '--pause=false', agentName, snapshot]);
    const saved = execFileSync('docker', ['save', snapshot], { maxBuffer: 2 * 1024 * 1024 * 1024 });
    expect(saved.includes(Buffer.from(canary))).toBe(true);
    expect(saved.includes(Buffer.from(SECRET))).toBe(false);
    expect(saved.includes(Buffer.from(SECRET.slice(0, 24)))).toBe(false);
  });

  it('a bottle resumed from the snapshot gets a fresh CA and the same rules', async () => {
    const oldCa = sidecar.caCertPem;
    docker(['rm', '-f', agentName]);
    await removeSidecar(run, slug);
    sidecar = await launchSidecar();
    expect(sidecar.caCertPem).not.toBe(oldCa);
    startAgent(resumedName, snapshot, sidecar.proxyUrl);
    trustCa(resumedName, sidecar.caCertPem);
    const bundle = must(['exec', resumedName, 'cat', '/etc/ssl/certs/ca-certificates.crt']);
    expect(bundle.split('# bot-bottle egress CA begin').length - 1).toBe(1);
    expect(bundle).toContain(sidecar.caCertPem.trim());
    expect(must(['exec', resumedName, 'cat', '/usr/local/share/ca-certificates/bot-bottle-egress.crt'])).toContain(sidecar.caCertPem.trim());
    expect(bundle).not.toContain(oldCa.trim());
    expect(client(resumedName, 'get', 'https://secret.test/again')).toMatchObject({ status: 200 });
    expect(client(resumedName, 'get', 'https://denied.test/')).toMatchObject({ status: 403 });
    expect(client(resumedName, 'direct', 'allowed.test', '443')).toMatchObject({ connected: false });
  });
});
