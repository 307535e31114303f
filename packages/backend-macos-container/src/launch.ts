/**
 * launch(): build or pick the image, create the per-slug network and run the
 * idle container WITHOUT --rm (Apple's container removes a stopped container
 * anyway; the agent runs through exec). Boots from the committed snapshot
 * when it still exists. Whatever this creates is removed again if a later
 * step fails.
 */
import { spawn } from 'node:child_process';
import { basename, dirname } from 'node:path';
import { agentUserFrom, BotBottleError, homeFor, LABELS, type BackendContext, type LaunchOptions } from '@bot-bottle/core';
import { MacosContainerBottle } from './bottle.js';
import { buildImage } from './builder.js';
import type { MacosContainerPlan } from './plan.js';
import { tail, type ContainerCli } from './runtime.js';

export interface ResolvedImage {
  readonly ref: string;
  readonly fromSnapshot: boolean;
}

/** The image to boot: the committed snapshot when present, else the bottle's image (built if needed). */
export async function resolveImage(
  cli: ContainerCli,
  context: BackendContext,
  plan: MacosContainerPlan,
  signal?: AbortSignal,
): Promise<ResolvedImage> {
  const slug = plan.spec.slug;
  const committed = await context.store.readCommittedRef(slug);
  if (committed !== undefined) {
    if (await cli.imageExists(committed)) {
      context.reporter.info(`resuming ${slug} from committed snapshot ${committed}`);
      return { ref: committed, fromSnapshot: true };
    }
    context.reporter.warn(
      `committed snapshot ${committed} of ${slug} is no longer in container's image store (deleted?); starting from the bottle's image instead`,
      'snapshot-missing',
    );
  }
  const source = plan.source;
  if (source.kind === 'image') {
    if (!(await cli.imageExists(source.ref))) {
      throw new BotBottleError(`image ${source.ref} is not in container's image store`, {
        hint: `build or load it first (\`container build -t ${source.ref} ...\` or \`container image load\`); bot-bottle never pulls`,
      });
    }
    return { ref: source.ref, fromSnapshot: false };
  }
  const progress = context.reporter.progress(`building ${source.tag}`);
  const result = await buildImage(cli, context.reporter, source, signal);
  if (result.exitCode !== 0) {
    progress.done('failed');
    throw new BotBottleError(
      `building ${source.tag} from ${source.dockerfile} failed:\n${tail(`${result.stdout}\n${result.stderr}`, 25)}`,
      { hint: 'fix the Dockerfile (the end of the build log is above) and start again' },
    );
  }
  progress.done(`built ${source.tag}`);
  return { ref: source.tag, fromSnapshot: false };
}

/** The `container run` argv of the idle bottle. */
export function runArgs(
  plan: MacosContainerPlan,
  image: { ref: string; hasEntrypoint: boolean },
  user: string,
  home: string,
): string[] {
  const labels = { ...plan.labels, [LABELS.user]: user, [LABELS.home]: home };
  return [
    'run',
    '--name',
    plan.runtimeName,
    '--detach',
    '--network',
    plan.networkName,
    ...Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]),
    '--user',
    user,
    '--memory',
    plan.memory,
    ...(plan.cpus !== undefined ? ['--cpus', String(Math.max(1, Math.ceil(plan.cpus)))] : []),
    // Idle; override only what must be, so a commit can restore the image's own config.
    ...(image.hasEntrypoint ? ['--entrypoint', 'sleep', image.ref, 'infinity'] : [image.ref, 'sleep', 'infinity']),
  ];
}

export async function launchMacosContainer(
  cli: ContainerCli,
  context: BackendContext,
  plan: MacosContainerPlan,
  options: LaunchOptions = {},
): Promise<MacosContainerBottle> {
  const slug = plan.spec.slug;
  const name = plan.runtimeName;
  const signalOpt = options.signal ? { signal: options.signal } : {};

  // A clash is reported before anything is created; the existing container is left alone.
  if ((await cli.findContainer(name)) !== undefined) {
    throw new BotBottleError(`a container named ${name} already exists`, {
      hint: `if it is an old bottle, run \`bot-bottle cleanup ${slug}\` (or \`container delete --force ${name}\`) and try again`,
    });
  }
  // No container of this slug exists, so a network of this name is a leftover of an earlier run.
  await cli.removeNetwork(plan.networkName);

  const image = await resolveImage(cli, context, plan, options.signal);
  const config = await cli.imageConfig(image.ref);
  const user = plan.user ?? agentUserFrom(config.user);
  const home = plan.home ?? homeFor(user);

  const created: { network?: string; container?: string } = {};
  try {
    await cli.run(
      ['network', 'create', ...Object.entries(plan.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]), plan.networkName],
      signalOpt,
    );
    created.network = plan.networkName;
    created.container = name;
    await cli.run(runArgs(plan, { ref: image.ref, hasEntrypoint: config.entrypoint !== null }, user, home), signalOpt);

    const bottle = new MacosContainerBottle(cli, slug, name, user, home);
    // A snapshot carries /tmp and /var/tmp empty (or not at all): make them usable by everyone.
    const init = await bottle.exec(
      ['sh', '-c', 'mkdir -p /tmp /var/tmp && chown root:root /tmp /var/tmp && chmod 1777 /tmp /var/tmp'],
      { user: 'root', ...signalOpt },
    );
    if (init.exitCode !== 0) throw new BotBottleError(`could not prepare /tmp in ${name}: ${init.stderr.trim()}`);
    if (plan.spec.agent.copyCwd && !image.fromSnapshot) await copyCwd(cli, context, bottle, plan.spec.cwd, options.signal);
    return bottle;
  } catch (error) {
    await removeCreated(cli, context, created);
    throw error;
  }
}

async function removeCreated(
  cli: ContainerCli,
  context: BackendContext,
  created: { network?: string; container?: string },
): Promise<void> {
  const steps: [string | undefined, (n: string) => Promise<void>][] = [
    [created.container, (n) => cli.removeContainer(n)],
    [created.network, (n) => cli.removeNetwork(n)],
  ];
  for (const [what, remove] of steps) {
    if (what === undefined) continue;
    try {
      await remove(what);
    } catch (cleanupError) {
      context.reporter.warn(`could not remove ${what} after a failed launch: ${(cleanupError as Error).message}`, 'cleanup-failed');
    }
  }
}

/** Copy the user's working directory to `<home>/<basename>` through `exec -i tar -x` (Apple has no `cp`). */
async function copyCwd(
  cli: ContainerCli,
  context: BackendContext,
  bottle: MacosContainerBottle,
  cwd: string,
  signal?: AbortSignal,
): Promise<void> {
  const dirName = basename(cwd) || 'workspace';
  const target = `${bottle.agentHome}/${dirName}`;
  const progress = context.reporter.progress(`copying ${cwd} into ${bottle.name}:${target}`, 'bytes');
  const mk = await bottle.exec(['mkdir', '-p', bottle.agentHome], { user: 'root' });
  if (mk.exitCode !== 0) throw new BotBottleError(`could not create ${bottle.agentHome}: ${mk.stderr.trim()}`);
  const tar = spawn('tar', ['-C', dirname(cwd), '-cf', '-', dirName], { stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
  const sink = cli.spawn(['exec', '--interactive', '--user', 'root', bottle.name, 'tar', '-x', '-f', '-', '-C', bottle.agentHome], [
    'pipe',
    'ignore',
    'pipe',
  ]).child;
  let bytes = 0;
  let errors = '';
  tar.stderr?.on('data', (c: Buffer) => (errors += c.toString()));
  sink.stderr?.on('data', (c: Buffer) => (errors += c.toString()));
  tar.stdout?.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    progress.update(bytes);
  });
  sink.stdin?.on('error', () => undefined);
  tar.stdout?.pipe(sink.stdin!);
  const exit = (p: ReturnType<typeof spawn>) =>
    new Promise<number>((resolve) => {
      p.once('error', () => resolve(1));
      p.once('close', (code) => resolve(code ?? 1));
    });
  const [tarCode, sinkCode] = await Promise.all([exit(tar), exit(sink)]);
  if (tarCode !== 0 || sinkCode !== 0) {
    progress.done('failed');
    throw new BotBottleError(`copying ${cwd} into the bottle failed: ${errors.trim() || 'unknown error'}`);
  }
  const own = await bottle.exec(['chown', '-R', `${bottle.agentUser}:`, target], { user: 'root' });
  if (own.exitCode !== 0) throw new BotBottleError(`could not give ${target} to ${bottle.agentUser}: ${own.stderr.trim()}`);
  progress.done(`copied to ${target}`);
}
