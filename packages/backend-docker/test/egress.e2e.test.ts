/**
 * A docker bottle that declares `egress`, driven through core's lifecycle
 * (startBottle, Freezer commit, endBottle, resumeBottle) on a real engine.
 * The upstream (HTTPS with its own test CA, and HTTP) lives on a network
 * only the sidecar joins, as in packages/egress-proxy/test/sidecar.e2e.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BotBottleError,
  endBottle,
  loadManifest,
  RecordingReporter,
  resumeBottle,
  startBottle,
  StateStore,
  type BackendContext,
  type LoadedManifest,
  type SessionDeps,
} from '@bot-bottle/core';
import { AGENT_CA_PATH, CertificateAuthority, parseLog } from '@bot-bottle/egress-proxy';
import plugin from '../src/index.js';
import { skipWithoutDocker } from '../../../test-fixtures/lib/engine-gate.js';
import { ensureFixtureNodeImage } from '../../../test-fixtures/lib/node-image.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, '..', '..', '..', 'test-fixtures', 'egress');
const AGENT_IMAGE = 'bot-bottle-fixture-agent-egress:latest';

const id = randomBytes(3).toString('hex');
const slug = `egress-docker-${id}`;
const missingSlug = `egress-missing-${id}`;
const failSlug = `egress-fail-${id}`;
const SECRET = `bbDockerSecret${randomBytes(12).toString('hex')}`;
const agentName = `bot-bottle-${slug}`;
const sidecarName = `bot-bottle-${slug}-egress`;
const upstreamNet = `bb-egress-docker-up-${id}`;
const upstreamName = `bb-egress-docker-up-${id}`;
const TEST_LABEL = 'dev.bot-bottle.test=egress-docker-e2e';

function docker(args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const result = spawnSync('docker', args, { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

function must(args: string[], input?: string): string {
  const result = docker(args, input);
  if (result.status !== 0) throw new Error(`docker ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

function exists(kind: 'container' | 'network', name: string): boolean {
  return docker([kind, 'inspect', name]).status === 0;
}

/** Run the client inside the bottle as the agent user, with the container's environment. */
function client(...args: string[]): Record<string, unknown> {
  const out = must(['exec', '-u', 'node', agentName, 'node', '/opt/egress/client.mjs', ...args]);
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
}

/** The agent fixture plus node and the egress client, built from local files only. */
function ensureAgentImage(nodeImage: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'bb-egress-agent-'));
  try {
    writeFileSync(join(dir, 'client.mjs'), readFileSync(join(fixtures, 'client.mjs')));
    writeFileSync(
      join(dir, 'Dockerfile'),
      [
        'FROM bot-bottle-fixture-agent:latest',
        `COPY --from=${nodeImage} /usr/local/bin/node /usr/local/bin/node`,
        'COPY client.mjs /opt/egress/client.mjs',
        '',
      ].join('\n'),
    );
    execFileSync('docker', ['build', '-q', '-t', AGENT_IMAGE, dir], { stdio: 'pipe' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function upstreamIp(): string {
  const ip = must(['inspect', '--format', `{{(index .NetworkSettings.Networks "${upstreamNet}").IPAddress}}`, upstreamName]).trim();
  expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  return ip;
}

/** Only the sidecar reaches the upstream: connect it after each launch. */
function connectUpstream(): void {
  must(['network', 'connect', upstreamNet, sidecarName]);
}

describe.skipIf(skipWithoutDocker())('docker backend egress (real engine)', () => {
  let work: string;
  let store: StateStore;
  let deps: SessionDeps;
  let env: Record<string, string | undefined>;
  let loaded: LoadedManifest;
  let committedRef: string | undefined;
  let firstCa: string;

  function depsWith(extraEnv: Record<string, string | undefined>): SessionDeps {
    const reporter = new RecordingReporter();
    const context: BackendContext = { store, reporter, env: { ...env, ...extraEnv } };
    return { backend: plugin.createBackend(context), store, reporter };
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'bb-egress-docker-e2e-'));
    const nodeImage = ensureFixtureNodeImage();
    ensureAgentImage(nodeImage);

    const upstreamCa = CertificateAuthority.mint({ label: 'docker e2e upstream' });
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
    must(['network', 'create', '--label', TEST_LABEL, upstreamNet]);
    must([
      'run', '-d', '--name', upstreamName, '--network', upstreamNet, '--label', TEST_LABEL,
      ...names.flatMap((name) => ['--network-alias', name]),
      '--mount', `type=bind,source=${certs},target=/certs,readonly`,
      '--mount', `type=bind,source=${join(work, 'record')},target=/record`,
      '--mount', `type=bind,source=${fixtures},target=/srv,readonly`,
      nodeImage, 'node', '/srv/upstream.mjs',
    ]);
    for (let i = 0; i < 100 && !/http ready/.test(must(['logs', upstreamName])); i += 1) await new Promise((r) => setTimeout(r, 100));

    const project = join(work, 'project');
    mkdirSync(project);
    writeFileSync(
      join(project, 'bot-bottle.json'),
      JSON.stringify({
        bottles: {
          dev: {
            backend: 'docker',
            image: AGENT_IMAGE,
            egress: {
              allow: ['allowed.test', 'secret.test'],
              routes: [{ host: 'secret.test', header: 'authorization', fromEnv: 'E2E_DOCKER_TOKEN' }],
            },
          },
          broken: { backend: 'docker', image: AGENT_IMAGE, resources: { cpus: 100000 }, egress: { allow: ['allowed.test'] } },
        },
        agents: {
          egresse2e: { bottle: 'dev', template: 'shell', command: ['sleep', 'infinity'] },
          // docker run refuses the CPU limit: the launch fails after the sidecar is up.
          broken: { bottle: 'broken', template: 'shell', command: ['sleep', 'infinity'] },
        },
      }),
    );
    loaded = await loadManifest(project);
    store = new StateStore(join(work, 'home'));
    env = {
      ...process.env,
      BOT_BOTTLE_HOME: store.home,
      BOT_BOTTLE_EGRESS_BASE_IMAGE: nodeImage,
      // Stands in for the public roots real upstreams chain to.
      BOT_BOTTLE_EGRESS_UPSTREAM_CA: join(work, 'upstream-ca.pem'),
      E2E_DOCKER_TOKEN: `Bearer ${SECRET}`,
    };
    deps = depsWith({});
  });

  afterAll(async () => {
    if (deps) {
      for (const s of [slug, missingSlug, failSlug]) await endBottle(deps, s).catch(() => undefined);
    }
    docker(['rm', '-f', upstreamName]);
    docker(['network', 'rm', upstreamNet]);
    if (committedRef) docker(['rmi', '-f', committedRef]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('refuses a bottle whose route secret is not set, creating nothing', async () => {
    const error = await startBottle(depsWith({ E2E_DOCKER_TOKEN: undefined }), {
      loaded,
      agentName: 'egresse2e',
      cwd: work,
      slug: missingSlug,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BotBottleError);
    expect((error as Error).message).toContain('E2E_DOCKER_TOKEN');
    expect((error as BotBottleError).hint).toContain('bottles.dev.egress.routes');
    expect(exists('network', `bot-bottle-${missingSlug}`)).toBe(false);
    expect(exists('container', `bot-bottle-${missingSlug}-egress`)).toBe(false);
    expect(await store.exists(missingSlug)).toBe(false);
  });

  it('a launch that fails after the sidecar started removes the sidecar and both networks', async () => {
    await expect(startBottle(deps, { loaded, agentName: 'broken', cwd: work, slug: failSlug })).rejects.toThrow(/cpus|CPU/i);
    for (const name of [`bot-bottle-${failSlug}`, `bot-bottle-${failSlug}-egress`]) expect(exists('container', name)).toBe(false);
    for (const name of [`bot-bottle-${failSlug}`, `bot-bottle-${failSlug}-egress-out`]) expect(exists('network', name)).toBe(false);
  });

  it('starts the bottle on an internal network with the sidecar as its only way out', async () => {
    const started = await startBottle(deps, { loaded, agentName: 'egresse2e', cwd: work, slug });
    expect(started.bottle.name).toBe(agentName);
    connectUpstream();
    expect(must(['network', 'inspect', '--format', '{{.Internal}}', agentName]).trim()).toBe('true');
    expect(must(['network', 'inspect', '--format', '{{.Internal}}', `${sidecarName}-out`]).trim()).toBe('false');
    const active = (await deps.backend.listActive()).filter((agent) => agent.slug === slug);
    expect(active.map((agent) => agent.runtimeName)).toEqual([agentName]);
    expect((await deps.backend.attach(slug))?.name).toBe(agentName);
    const agentEnv = must(['exec', agentName, 'env']);
    expect(agentEnv).toContain('HTTPS_PROXY=http://bot-bottle-egress:3128');
    expect(agentEnv).toContain('no_proxy=');
    expect(agentEnv).toContain(`NODE_EXTRA_CA_CERTS=${AGENT_CA_PATH}`);
    firstCa = must(['exec', agentName, 'cat', AGENT_CA_PATH]);
    expect(firstCa).toContain('BEGIN CERTIFICATE');
  });

  it('allowed hosts answer through the proxy, denied ones get 403, direct connections fail', () => {
    const plain = client('get', 'http://allowed.test/plain');
    expect(plain.status).toBe(200);
    expect(JSON.parse(String(plain.body))).toMatchObject({ scheme: 'http', host: 'allowed.test' });
    const denied = client('get', 'https://denied.test/');
    expect(denied).toMatchObject({ status: 403, stage: 'connect' });
    expect(String(denied.body)).toContain('add "denied.test" to bottles.dev.egress.allow in');
    expect(client('direct', upstreamIp(), '443')).toMatchObject({ connected: false });
    expect(client('direct', '1.1.1.1', '443')).toMatchObject({ connected: false });
  });

  it('the injected header reaches the upstream; the agent never sees it', () => {
    const answer = client('get', 'https://secret.test/user');
    expect(answer.status).toBe(200);
    expect(JSON.parse(String(answer.body))).toMatchObject({ scheme: 'https', sawAuthorization: true });
    expect(readFileSync(join(work, 'record', 'requests.jsonl'), 'utf8')).toContain(`"authorization":"Bearer ${SECRET}"`);

    expect(must(['exec', agentName, 'env'])).not.toContain(SECRET);
    expect(must(['exec', '-u', '0', agentName, 'cat', '/proc/1/environ'])).not.toContain(SECRET);
    const grep = docker(['exec', '-u', '0', agentName, 'grep', '-r', '-l', '-F', SECRET, '/', '--exclude-dir=proc', '--exclude-dir=sys', '--exclude-dir=dev']);
    expect(grep.stdout).toBe('');
    expect(grep.status).toBe(1);
    // Nor the CA's private key: only its certificate goes in.
    const keys = docker(['exec', '-u', '0', agentName, 'grep', '-r', '-l', 'PRIVATE KEY', '/etc', '/home', '/root', '/tmp', '/usr/local/share', '/opt']);
    expect(keys.stdout).toBe('');
    expect(must(['inspect', agentName])).not.toContain(SECRET);
    expect(must(['network', 'inspect', agentName])).not.toContain(SECRET);
  });

  it('a commit of the bottle does not contain the secret', async () => {
    const canary = `bbCanary${randomBytes(8).toString('hex')}`;
    must(['exec', '-u', 'node', agentName, 'sh', '-c', `echo ${canary} > /home/node/canary.txt`]);
    const result = await plugin.createFreezer({ store, reporter: new RecordingReporter(), env }).commit(slug);
    committedRef = result.ref;
    const saved = execFileSync('docker', ['save', result.ref], { maxBuffer: 2 * 1024 * 1024 * 1024 });
    expect(saved.includes(Buffer.from(canary))).toBe(true);
    expect(saved.includes(Buffer.from(SECRET))).toBe(false);
    expect(saved.includes(Buffer.from(SECRET.slice(0, 24)))).toBe(false);
    // The proxy variables launch added are blanked, so a resume without egress has no stale proxy.
    const snapshotEnv = JSON.parse(must(['image', 'inspect', '--format', '{{json .Config.Env}}', result.ref])) as string[];
    for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'NODE_EXTRA_CA_CERTS']) {
      expect(snapshotEnv).toContain(`${name}=`);
    }
  });

  it('egress.log in the bottle state has a JSON line per decision, without the secret', () => {
    const text = readFileSync(join(store.dir(slug), 'egress.log'), 'utf8');
    expect(text).not.toContain(SECRET);
    const entries = parseLog(text);
    expect(entries.some((e) => e.decision === 'deny' && e.host === 'denied.test' && e.status === 403)).toBe(true);
    expect(entries.some((e) => e.decision === 'allow' && e.host === 'secret.test' && e.injected?.includes('authorization'))).toBe(true);
    expect(entries.every((e) => e.slug === slug)).toBe(true);
  });

  it('end removes the sidecar and its networks; resume brings the same rules with a fresh CA', async () => {
    const ended = await endBottle(deps, slug);
    expect(ended.preserved).toBe(true);
    for (const name of [agentName, sidecarName]) expect(exists('container', name)).toBe(false);
    for (const name of [agentName, `${sidecarName}-out`]) expect(exists('network', name)).toBe(false);

    const resumed = await resumeBottle(deps, { slug });
    expect(resumed.fromSnapshot).toBe(true);
    connectUpstream();
    const ca = must(['exec', agentName, 'cat', AGENT_CA_PATH]);
    expect(ca).toContain('BEGIN CERTIFICATE');
    expect(ca).not.toBe(firstCa);
    expect(client('get', 'https://secret.test/again')).toMatchObject({ status: 200 });
    expect(client('get', 'https://denied.test/')).toMatchObject({ status: 403 });
    expect(client('direct', upstreamIp(), '443')).toMatchObject({ connected: false });
    expect(must(['inspect', agentName])).not.toContain(SECRET);

    await endBottle(deps, slug);
    expect(exists('container', sidecarName)).toBe(false);
    expect(exists('network', `${sidecarName}-out`)).toBe(false);
  });
});
