/**
 * The proxy as a sidecar container next to a bottle on Docker-compatible
 * engines (the `docker` CLI; Podman speaks the same arguments):
 *
 *   agent ── bot-bottle-<slug> (internal: no route out) ── sidecar ── bot-bottle-<slug>-egress-out ── world
 *
 * The sidecar image is built locally from this package's own files on a
 * base image that has `node` (setting BOT_BOTTLE_EGRESS_BASE_IMAGE); nothing
 * is pulled. The secrets reach the proxy through the sidecar's environment
 * only, passed to the CLI by name so they never appear in an argv.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_ENV, SECRETS_ENV, type EgressProxyConfig, type EgressSecrets } from './config.js';
import { proxyEnvironment } from './plan.js';
import { DEFAULT_LISTEN_PORT } from './proxy.js';

export const DEFAULT_SIDECAR_BASE_IMAGE = 'node:24-slim';
export const BASE_IMAGE_SETTING = 'BOT_BOTTLE_EGRESS_BASE_IMAGE';
/** Host path of a PEM bundle the proxy verifies upstream TLS against (default: Node's built-in roots). */
export const UPSTREAM_CA_SETTING = 'BOT_BOTTLE_EGRESS_UPSTREAM_CA';
/** The name the agent reaches the proxy by on the internal network. */
export const SIDECAR_ALIAS = 'bot-bottle-egress';
/** Where the bottle's CA goes inside the agent; NODE_EXTRA_CA_CERTS points here. */
export const AGENT_CA_PATH = '/usr/local/share/ca-certificates/bot-bottle-egress.crt';
const LOG_IN_SIDECAR = '/var/log/bot-bottle/egress.log';
const UPSTREAM_CA_IN_SIDECAR = '/etc/bot-bottle/upstream-ca.pem';

export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the engine CLI; `env` is merged into the child's environment (never the argv). */
export type EngineRunner = (
  args: readonly string[],
  options?: { readonly env?: Readonly<Record<string, string>>; readonly input?: string },
) => Promise<CommandResult>;

/** A runner for `docker` (or another compatible CLI) built on child_process. */
export function engineRunner(binary = 'docker', baseEnv: Readonly<Record<string, string | undefined>> = process.env): EngineRunner {
  return (args, options = {}) =>
    new Promise((resolve, reject) => {
      const child = spawn(binary, [...args], { env: { ...baseEnv, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      child.on('error', reject);
      child.on('close', (code) =>
        resolve({ exitCode: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
      );
      child.stdin.end(options.input ?? '');
    });
}

export class SidecarError extends Error {
  constructor(message: string, readonly detail = '') {
    super(detail ? `${message}: ${detail.trim().split('\n').slice(-15).join('\n')}` : message);
    this.name = 'SidecarError';
  }
}

async function must(run: EngineRunner, args: readonly string[], what: string, options?: Parameters<EngineRunner>[1]): Promise<string> {
  const result = await run(args, options);
  if (result.exitCode !== 0) throw new SidecarError(what, result.stderr || result.stdout);
  return result.stdout;
}

export function sidecarName(slug: string): string {
  return `bot-bottle-${slug}-egress`;
}

export function outboundNetworkName(slug: string): string {
  return `bot-bottle-${slug}-egress-out`;
}

/** The package's root directory (holding dist/ and package.json). */
function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..');
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(path));
    else if (entry.isFile()) out.push(path);
  }
  return out.sort();
}

/** Directories the sidecar needs: the built proxy and its one runtime dependency. */
function sidecarSources(): { dist: string; forge: string; packageJson: string } {
  const root = packageRoot();
  const dist = join(root, 'dist');
  if (!statSync(join(dist, 'main.js'), { throwIfNoEntry: false })?.isFile()) {
    throw new SidecarError(`the egress proxy is not built (${join(dist, 'main.js')} is missing)`, 'run `npm run build` first');
  }
  const forge = dirname(createRequire(import.meta.url).resolve('node-forge/package.json'));
  return { dist, forge, packageJson: join(root, 'package.json') };
}

/** Content hash of what goes into the image, so an unchanged proxy is never rebuilt. */
function sourcesDigest(baseImageId: string): string {
  const { dist, forge, packageJson } = sidecarSources();
  const hash = createHash('sha256').update(baseImageId).update(readFileSync(packageJson));
  for (const file of [...listFiles(dist).filter((file) => file.endsWith('.js')), join(forge, 'package.json')]) {
    hash.update(relative(packageRoot(), file)).update(readFileSync(file));
  }
  return hash.digest('hex').slice(0, 16);
}

/** Write a build context: Dockerfile, the proxy's .js files and node-forge. */
export function writeSidecarContext(dir: string, baseImage: string): void {
  const { dist, forge, packageJson } = sidecarSources();
  const app = join(dir, 'app');
  mkdirSync(join(app, 'dist'), { recursive: true });
  for (const file of listFiles(dist).filter((file) => file.endsWith('.js'))) {
    const target = join(app, 'dist', relative(dist, file));
    mkdirSync(dirname(target), { recursive: true });
    cpSync(file, target);
  }
  cpSync(packageJson, join(app, 'package.json'));
  cpSync(forge, join(app, 'node_modules', 'node-forge'), { recursive: true });
  writeFileSync(
    join(dir, 'Dockerfile'),
    [
      `FROM ${baseImage}`,
      'COPY app /opt/bot-bottle-egress',
      // Runs as an unprivileged user; the log directory is a bind mount.
      'USER 65534:65534',
      `EXPOSE ${DEFAULT_LISTEN_PORT}`,
      'ENTRYPOINT ["node", "/opt/bot-bottle-egress/dist/main.js"]',
      '',
    ].join('\n'),
  );
}

/** The sidecar image for `baseImage`, built from local files when it is not there yet. */
export async function ensureSidecarImage(run: EngineRunner, baseImage: string): Promise<string> {
  const inspect = await run(['image', 'inspect', '--format', '{{.Id}}', baseImage]);
  if (inspect.exitCode !== 0) {
    throw new SidecarError(
      `the egress proxy's base image ${baseImage} is not present`,
      `load or build an image with node 22+ and set ${BASE_IMAGE_SETTING} to it (bot-bottle never pulls)`,
    );
  }
  const tag = `bot-bottle-egress-proxy:${sourcesDigest(inspect.stdout.trim())}`;
  if ((await run(['image', 'inspect', tag])).exitCode === 0) return tag;
  const dir = mkdtempSync(join(tmpdir(), 'bb-egress-image-'));
  try {
    writeSidecarContext(dir, baseImage);
    await must(run, ['build', '--label', 'dev.bot-bottle.egress-proxy=1', '-t', tag, dir], `building ${tag} failed`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return tag;
}

export interface SidecarSpec {
  readonly slug: string;
  readonly image: string;
  /** The bottle's internal network (already created with --internal). */
  readonly internalNetwork: string;
  readonly config: EgressProxyConfig;
  readonly secrets: EgressSecrets;
  /** Host file the decision log is appended to (created if missing). */
  readonly logFile: string;
  /** Host PEM bundle for upstream verification, mounted read-only. */
  readonly upstreamCaFile?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** How long to wait for the proxy to listen. */
  readonly timeoutMs?: number;
}

export interface RunningSidecar {
  readonly name: string;
  readonly outboundNetwork: string;
  /** `http://bot-bottle-egress:3128`: what the agent's proxy variables point at. */
  readonly proxyUrl: string;
  readonly caCertPem: string;
}

function labelFlags(labels: Readonly<Record<string, string>> = {}): string[] {
  return Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]);
}

/** Create the outbound network and start the sidecar on both networks; resolves once the proxy listens. */
export async function startSidecar(run: EngineRunner, spec: SidecarSpec): Promise<RunningSidecar> {
  const name = sidecarName(spec.slug);
  const outbound = outboundNetworkName(spec.slug);
  mkdirSync(dirname(spec.logFile), { recursive: true });
  writeFileSync(spec.logFile, '', { flag: 'a', mode: 0o666 });
  // The proxy runs as nobody and appends to this file through the bind mount.
  chmodSync(spec.logFile, 0o666);
  const config: EgressProxyConfig = {
    ...spec.config,
    listen: { host: '0.0.0.0', port: DEFAULT_LISTEN_PORT },
    logFile: LOG_IN_SIDECAR,
    ...(spec.upstreamCaFile !== undefined ? { upstreamCaFile: UPSTREAM_CA_IN_SIDECAR } : {}),
  };
  await must(run, ['network', 'create', ...labelFlags(spec.labels), outbound], `creating network ${outbound} failed`);
  await must(
    run,
    [
      'create',
      '--name',
      name,
      '--network',
      outbound,
      ...labelFlags(spec.labels),
      '--pull',
      'never',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
      '--read-only',
      '--memory',
      '256m',
      '--pids-limit',
      '256',
      '--restart',
      'no',
      '-e',
      CONFIG_ENV,
      '-e',
      SECRETS_ENV,
      '--mount',
      `type=bind,source=${spec.logFile},target=${LOG_IN_SIDECAR}`,
      ...(spec.upstreamCaFile !== undefined
        ? ['--mount', `type=bind,source=${spec.upstreamCaFile},target=${UPSTREAM_CA_IN_SIDECAR},readonly`]
        : []),
      spec.image,
    ],
    `creating the egress sidecar ${name} failed`,
    // By name only: the values travel in the CLI's environment, not its argv.
    { env: { [CONFIG_ENV]: JSON.stringify(config), [SECRETS_ENV]: JSON.stringify(spec.secrets) } },
  );
  await must(run, ['network', 'connect', '--alias', SIDECAR_ALIAS, spec.internalNetwork, name], `attaching ${name} to ${spec.internalNetwork} failed`);
  await must(run, ['start', name], `starting ${name} failed`);
  const caCertPem = await waitListening(run, name, spec.timeoutMs ?? 30_000);
  return { name, outboundNetwork: outbound, proxyUrl: `http://${SIDECAR_ALIAS}:${DEFAULT_LISTEN_PORT}`, caCertPem };
}

async function waitListening(run: EngineRunner, name: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const logs = await run(['logs', name]);
    for (const line of logs.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const event = JSON.parse(line) as { event?: string; caCert?: string };
        if (event.event === 'listening' && typeof event.caCert === 'string') return event.caCert;
      } catch {
        // not ours
      }
    }
    const state = await run(['inspect', '--format', '{{.State.Running}}', name]);
    if (state.stdout.trim() !== 'true' || Date.now() > deadline) {
      throw new SidecarError(`the egress proxy in ${name} did not start`, `${logs.stderr}${logs.stdout}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Remove the sidecar and its outbound network; idempotent. */
export async function removeSidecar(run: EngineRunner, slug: string): Promise<void> {
  await run(['rm', '-f', sidecarName(slug)]);
  const result = await run(['network', 'rm', outboundNetworkName(slug)]);
  if (result.exitCode !== 0 && !/not found|no such network/i.test(result.stderr)) {
    throw new SidecarError(`removing network ${outboundNetworkName(slug)} failed`, result.stderr);
  }
}

/**
 * The shell script that makes the agent trust the bottle's CA, run as root
 * inside the agent with the PEM on stdin. A previous bottle CA (a snapshot
 * taken under an earlier launch) is replaced, never accumulated.
 */
export const TRUST_CA_SCRIPT = `set -eu
pem="$(cat)"
mkdir -p /usr/local/share/ca-certificates /etc/ssl/certs
printf '%s\\n' "$pem" > ${AGENT_CA_PATH}
chmod 0644 ${AGENT_CA_PATH}
if command -v update-ca-certificates >/dev/null 2>&1; then
  update-ca-certificates --fresh >/dev/null 2>&1 || update-ca-certificates >/dev/null
else
  bundle=/etc/ssl/certs/ca-certificates.crt
  touch "$bundle"
  sed -i '/^# bot-bottle egress CA begin$/,/^# bot-bottle egress CA end$/d' "$bundle"
  { printf '# bot-bottle egress CA begin\\n'; printf '%s\\n' "$pem"; printf '# bot-bottle egress CA end\\n'; } >> "$bundle"
  chmod 0644 "$bundle"
fi
`;

/** Environment the agent runs with: proxy variables and the CA for Node. */
export function agentEgressEnvironment(proxyUrl: string): Record<string, string> {
  return { ...proxyEnvironment(proxyUrl), NODE_EXTRA_CA_CERTS: AGENT_CA_PATH };
}
