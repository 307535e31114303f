/**
 * launch(): create the per-slug network and the idle, hardened container,
 * booting from the committed snapshot when it still exists. A bottle that
 * declares `egress` gets an `--internal` network and the egress proxy
 * sidecar as its only way out. Whatever this creates is removed again if a
 * later step fails.
 */
import { basename, dirname } from 'node:path';
import { execa } from 'execa';
import {
  agentUserFrom,
  BotBottleError,
  homeFor,
  LABELS,
  type BackendContext,
  type LaunchOptions,
} from '@bot-bottle/core';
import { TRUST_CA_SCRIPT } from '@bot-bottle/egress-proxy';
import { DockerBottle } from './bottle.js';
import {
  agentEnvFlags,
  claimSidecarNames,
  planDockerEgress,
  removeDockerSidecar,
  sidecarImage,
  startDockerSidecar,
} from './egress.js';
import type { DockerBottlePlan } from './plan.js';
import { DockerCommandError, tail, type DockerCli, type ImageConfig } from './runtime.js';

/**
 * Root inside the bottle keeps only what it needs to manage the agent's
 * files (ownership and permission fixes). The agent user is non-root and,
 * with no-new-privileges, can never gain these.
 */
export const ROOT_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'] as const;

export interface ResolvedImage {
  readonly ref: string;
  readonly fromSnapshot: boolean;
  readonly config: ImageConfig;
}

/** Pick the image to boot: the committed snapshot when present, else the bottle's image (built if needed). */
export async function resolveImage(
  cli: DockerCli,
  context: BackendContext,
  plan: DockerBottlePlan,
  signal?: AbortSignal,
): Promise<ResolvedImage> {
  const slug = plan.spec.slug;
  const committed = await context.store.readCommittedRef(slug);
  if (committed !== undefined) {
    const config = await cli.tryImageConfig(committed);
    if (config !== undefined) {
      context.reporter.info(`resuming ${slug} from committed snapshot ${committed}`);
      return { ref: committed, fromSnapshot: true, config };
    }
    context.reporter.warn(
      `committed snapshot ${committed} of ${slug} is no longer in the Docker engine (pruned?); starting from the bottle's image instead`,
      'snapshot-missing',
    );
  }
  const source = plan.source;
  if (source.kind === 'image') {
    const config = await cli.tryImageConfig(source.ref);
    if (config === undefined) {
      throw new BotBottleError(`image ${source.ref} is not present in the Docker engine`, {
        hint: `build or load it first (\`docker build -t ${source.ref} ...\` or \`docker load\`); bot-bottle never pulls`,
      });
    }
    return { ref: source.ref, fromSnapshot: false, config };
  }
  const progress = context.reporter.progress(`building ${source.tag}`);
  const args = ['build', '-t', source.tag, '-f', source.dockerfile, source.context];
  const result = await cli.run(args, { allowFailure: true, ...(signal ? { signal } : {}) });
  if (result.exitCode !== 0) {
    progress.done('failed');
    const log = tail(`${result.stdout}\n${result.stderr}`, 25);
    throw new BotBottleError(`building ${source.tag} from ${source.dockerfile} failed:\n${log}`, {
      hint: 'fix the Dockerfile (the end of the build log is above) and start again',
    });
  }
  progress.done(`built ${source.tag}`);
  return { ref: source.tag, fromSnapshot: false, config: await cli.imageConfig(source.tag) };
}

export async function launchDocker(
  cli: DockerCli,
  context: BackendContext,
  plan: DockerBottlePlan,
  options: LaunchOptions = {},
): Promise<DockerBottle> {
  const slug = plan.spec.slug;
  const name = plan.runtimeName;
  // Missing route secrets are refused before anything is looked at or created.
  const egress = await planDockerEgress(context, plan);

  // A clash is reported before anything is created, and the existing container is left alone.
  const [existing, networkLabels] = await Promise.all([cli.containerState(name), cli.networkLabels(plan.networkName)]);
  if (existing !== undefined) {
    throw new BotBottleError(`a container named ${name} already exists`, {
      hint: `if it is an old bottle, run \`bot-bottle cleanup ${slug}\` (or \`docker rm -f ${name}\`) and try again`,
    });
  }
  await claimNetworkName(cli, plan, networkLabels);
  if (egress !== undefined) await claimSidecarNames(cli, plan);

  const { config, ...image } = await resolveImage(cli, context, plan, options.signal);
  const user = plan.user ?? agentUserFrom(config.user);
  const home = plan.home ?? homeFor(user);
  const proxyImage = egress !== undefined ? await sidecarImage(context, egress) : undefined;

  const created: { network?: string; container?: string; sidecar?: string } = {};
  try {
    // With egress, the bottle's network has no route out: the sidecar is its only way to the world.
    await cli.run(['network', 'create', ...(egress !== undefined ? ['--internal'] : []), ...labelFlags(plan.labels), plan.networkName]);
    created.network = plan.networkName;

    let sidecar: Awaited<ReturnType<typeof startDockerSidecar>> | undefined;
    if (egress !== undefined && proxyImage !== undefined) {
      created.sidecar = slug;
      sidecar = await startDockerSidecar(plan, egress, proxyImage);
      context.reporter.info(`egress of ${slug} goes through ${sidecar.name} (decisions in ${egress.logFile})`);
    }

    const runArgs = [
      'run',
      '--detach',
      '--name',
      name,
      '--hostname',
      slug.slice(0, 63),
      '--network',
      plan.networkName,
      ...labelFlags({ ...plan.labels, [LABELS.user]: user, [LABELS.home]: home }),
      '--init',
      '--pull',
      'never',
      // Only the idle init runs as root, so that root execs keep the three
      // capabilities below: with no-new-privileges, an exec into a container
      // whose main user is non-root gets no capabilities at all. The agent
      // itself always runs as \`user\` through exec, with none.
      '--user',
      '0',
      '--cap-drop',
      'ALL',
      ...ROOT_CAPABILITIES.flatMap((cap) => ['--cap-add', cap]),
      '--security-opt',
      'no-new-privileges',
      '--memory',
      plan.memory,
      '--pids-limit',
      String(plan.pids),
      ...(plan.cpus !== undefined ? ['--cpus', String(plan.cpus)] : []),
      // Proxy variables and the CA path only; route secrets never reach the agent.
      ...(sidecar !== undefined ? agentEnvFlags(sidecar) : []),
      // The bottle idles; the agent runs through exec. Override only what
      // must be overridden so a commit can restore the image's own config.
      ...(config.entrypoint !== null ? ['--entrypoint', 'sleep', image.ref, 'infinity'] : [image.ref, 'sleep', 'infinity']),
    ];
    await cli.run(runArgs, options.signal ? { signal: options.signal } : {});
    created.container = name;

    const bottle = new DockerBottle(cli, slug, name, user, home);
    // /tmp and /var/tmp are scratch: a snapshot carries whatever was in them
    // at commit time, so a bottle booted from one starts them empty. A
    // snapshot may also lack them, or have them with other modes.
    const fresh = image.fromSnapshot ? 'find /tmp /var/tmp -xdev -mindepth 1 -delete 2>/dev/null; ' : '';
    const init = await bottle.exec(
      ['sh', '-c', `mkdir -p /tmp /var/tmp && ${fresh}chown 0:0 /tmp /var/tmp && chmod 1777 /tmp /var/tmp`],
      { user: 'root' },
    );
    if (init.exitCode !== 0) {
      throw new BotBottleError(`could not prepare /tmp in ${name}: ${init.stderr.trim()}`);
    }
    if (sidecar !== undefined) {
      // The CA is fresh on every launch (its key stays in the proxy); a
      // snapshot's earlier CA is replaced, not accumulated.
      const trust = await bottle.exec(['sh', '-c', TRUST_CA_SCRIPT], { user: 'root', input: sidecar.caCertPem });
      if (trust.exitCode !== 0) {
        throw new BotBottleError(`could not install the egress proxy's CA in ${name}: ${(trust.stderr || trust.stdout).trim()}`, {
          hint: 'the bottle image needs a POSIX shell with mkdir, cat, chmod and sed (or update-ca-certificates)',
        });
      }
    }
    if (plan.spec.agent.copyCwd && !image.fromSnapshot) {
      await copyCwd(cli, context, bottle, plan.spec.cwd);
    }
    return bottle;
  } catch (error) {
    await removeCreated(cli, context, created);
    if (error instanceof DockerCommandError && /is already in use by container/i.test(error.stderr)) {
      throw new BotBottleError(`a container named ${name} already exists`, {
        hint: `if it is an old bottle, run \`bot-bottle cleanup ${slug}\` and try again`,
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Make sure the per-slug network name is free. A leftover network of this
 * very bottle (labels say so, no container) is removed; anything else is a
 * clear error and is left alone.
 */
async function claimNetworkName(
  cli: DockerCli,
  plan: DockerBottlePlan,
  labels: Readonly<Record<string, string>> | undefined,
): Promise<void> {
  if (labels === undefined) return;
  const ours = Object.entries(plan.labels).every(([key, value]) => labels[key] === value);
  if (!ours) {
    throw new BotBottleError(`a Docker network named ${plan.networkName} already exists and was not made for this bottle`, {
      hint: `remove it (\`docker network rm ${plan.networkName}\`) if it is not in use, or start with another slug`,
    });
  }
  await cli.removeNetwork(plan.networkName);
}

async function removeCreated(
  cli: DockerCli,
  context: BackendContext,
  created: { network?: string; container?: string; sidecar?: string },
): Promise<void> {
  for (const [what, remove] of [
    [created.container, (name: string) => cli.removeContainer(name)],
    [created.sidecar, (slug: string) => removeDockerSidecar(context.env, slug)],
    [created.network, (name: string) => cli.removeNetwork(name)],
  ] as const) {
    if (what === undefined) continue;
    try {
      await remove(what);
    } catch (cleanupError) {
      context.reporter.warn(`could not remove ${what} after a failed launch: ${(cleanupError as Error).message}`, 'cleanup-failed');
    }
  }
}

export function labelFlags(labels: Readonly<Record<string, string>>): string[] {
  return Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]);
}

/** Copy the user's working directory to `<home>/<basename>` inside the bottle, owned by the agent user. */
async function copyCwd(cli: DockerCli, context: BackendContext, bottle: DockerBottle, cwd: string): Promise<void> {
  const dirName = basename(cwd) || 'workspace';
  const target = `${bottle.agentHome}/${dirName}`;
  const progress = context.reporter.progress(`copying ${cwd} into ${bottle.name}:${target}`, 'bytes');
  const mk = await bottle.exec(['mkdir', '-p', bottle.agentHome], { user: 'root' });
  if (mk.exitCode !== 0) throw new BotBottleError(`could not create ${bottle.agentHome}: ${mk.stderr.trim()}`);
  const tar = execa('tar', ['-C', dirname(cwd), '-cf', '-', dirName], { reject: false, stdin: 'ignore', stdout: 'pipe', buffer: { stdout: false } });
  const cp = execa('docker', ['cp', '-', `${bottle.name}:${bottle.agentHome}`], {
    env: { ...context.env },
    extendEnv: false,
    reject: false,
    stdin: 'pipe',
  });
  let bytes = 0;
  tar.stdout?.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    progress.update(bytes);
  });
  tar.stdout?.pipe(cp.stdin!);
  const [tarResult, cpResult] = await Promise.all([tar, cp]);
  if (tarResult.exitCode !== 0 || cpResult.exitCode !== 0) {
    progress.done('failed');
    throw new BotBottleError(
      `copying ${cwd} into the bottle failed: ${String(tarResult.stderr || cpResult.stderr).trim() || 'unknown error'}`,
    );
  }
  const own = await bottle.exec(['chown', '-R', `${bottle.agentUser}:`, target], { user: 'root' });
  if (own.exitCode !== 0) throw new BotBottleError(`could not give ${target} to ${bottle.agentUser}: ${own.stderr.trim()}`);
  progress.done(`copied to ${target}`);
}
