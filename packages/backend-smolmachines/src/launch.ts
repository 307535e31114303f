/**
 * launch(): create and start the VM `bot-bottle-<slug>`, booting from the
 * committed `.smolmachine` when it still exists, else from the bottle's
 * image packed into a cached `.smolmachine`. Whatever this creates is
 * removed again when a later step fails.
 */
import { basename, dirname, join } from 'node:path';
import { rm } from 'node:fs/promises';
import {
  agentUserFrom,
  BotBottleError,
  homeFor,
  type BackendContext,
  type ImageRuntimeConfig,
  type LaunchOptions,
} from '@bot-bottle/core';
import { ensureImageArtifact, fileExists, runTool } from './artifact.js';
import { SmolmachinesBottle } from './bottle.js';
import type { SmolmachinesBottlePlan } from './plan.js';
import { execRetryingKilled, initScript, IMAGE_OWNERS_UPLOAD, waitExecReady } from './provision.js';
import { vmPath, type SmolvmCli } from './smolvm.js';
import { readBackendState, writeBackendState } from './state.js';

export interface BootSource {
  readonly artifact: string;
  readonly fromSnapshot: boolean;
  readonly config: ImageRuntimeConfig;
  /** For a fresh image: the host file with its owners manifest, copied in before init. */
  readonly owners?: string;
}

/** The committed snapshot when its file still exists, else the bottle's image (packed and cached). */
export async function resolveBootSource(
  cli: SmolvmCli,
  context: BackendContext,
  plan: SmolmachinesBottlePlan,
  signal?: AbortSignal,
): Promise<BootSource> {
  const slug = plan.spec.slug;
  const committed = await context.store.readCommittedRef(slug);
  if (committed !== undefined) {
    if (await fileExists(committed)) {
      context.reporter.info(`resuming ${slug} from committed snapshot ${committed}`);
      const previous = await readBackendState(context.store, slug);
      return { artifact: committed, fromSnapshot: true, config: previous?.imageConfig ?? {} };
    }
    context.reporter.warn(
      `committed snapshot ${committed} of ${slug} is gone; starting from the bottle's image instead`,
      'snapshot-missing',
    );
  }
  const packed = await ensureImageArtifact(cli, context, plan.source, signal);
  return { artifact: packed.artifact, fromSnapshot: false, config: packed.config, owners: packed.owners };
}

export async function machineExists(cli: SmolvmCli, name: string): Promise<boolean> {
  return (await cli.machineList()).some((m) => m.name === name);
}

/** Stop and delete a machine; tolerates one that is stopped, gone, or deleted by its stop. */
export async function removeMachine(cli: SmolvmCli, name: string): Promise<void> {
  if (!(await machineExists(cli, name))) return;
  try {
    await cli.machineStop(name);
  } catch {
    // Already stopped, or stopping failed: delete -f decides.
  }
  // The real smolvm deletes a machine when it stops; the emulator may not.
  if (!(await machineExists(cli, name))) return;
  try {
    await cli.machineDelete(name);
  } catch (error) {
    if (await machineExists(cli, name)) throw error;
  }
}

export async function launchSmolmachines(
  cli: SmolvmCli,
  context: BackendContext,
  plan: SmolmachinesBottlePlan,
  options: LaunchOptions = {},
): Promise<SmolmachinesBottle> {
  const slug = plan.spec.slug;
  const name = plan.runtimeName;
  const signal = options.signal;
  if (await machineExists(cli, name)) {
    throw new BotBottleError(`a smolvm machine named ${name} already exists`, {
      hint: `if it is an old bottle, run \`bot-bottle cleanup ${slug}\` (or \`${cli.binary} machine delete -f ${name}\`) and try again`,
    });
  }
  const source = await resolveBootSource(cli, context, plan, signal);
  const user = plan.user ?? agentUserFrom(source.config.User);
  const home = plan.home ?? homeFor(user);
  const workdir = source.config.WorkingDir || home;

  let created = false;
  try {
    const booting = context.reporter.progress(`booting ${name}`);
    await cli.machineCreate(name, { from: source.artifact, net: plan.net, allowCidrs: plan.allowCidrs }, signal ? { signal } : {});
    created = true;
    await cli.machineStart(name, signal ? { signal } : {});
    await waitExecReady(cli, name, signal ? { signal } : {});
    booting.done();
    const initialising = context.reporter.progress(`initialising ${name}`);
    if (source.owners !== undefined) {
      // A fresh image: give init the image's true owners (a snapshot carries its own).
      await cli.machineCp(source.owners, vmPath(name, IMAGE_OWNERS_UPLOAD), signal ? { signal } : {});
    }
    const init = await execRetryingKilled(cli, name, ['sh', '-c', initScript(user, home, source.owners !== undefined ? IMAGE_OWNERS_UPLOAD : undefined)], signal ? { signal } : {});
    if (init.exitCode !== 0) {
      throw new BotBottleError(`could not initialise ${name} (exit ${init.exitCode}): ${init.stderr.trim() || '<no stderr>'}`);
    }
    initialising.done();
    const bottle = new SmolmachinesBottle(cli, { slug, name, agentUser: user, agentHome: home, workdir });
    await writeBackendState(context.store, slug, { user, home, workdir, imageConfig: source.config });
    if (plan.spec.agent.copyCwd && !source.fromSnapshot) await copyCwd(cli, context, bottle, plan.spec.cwd);
    return bottle;
  } catch (error) {
    if (created) {
      try {
        await removeMachine(cli, name);
      } catch (cleanupError) {
        context.reporter.warn(`could not remove ${name} after a failed launch: ${(cleanupError as Error).message}`, 'cleanup-failed');
      }
    }
    throw error;
  }
}

/** Copy the user's working directory to `<home>/<basename>`, owned by the agent user (tar file + machine cp). */
async function copyCwd(cli: SmolvmCli, context: BackendContext, bottle: SmolmachinesBottle, cwd: string): Promise<void> {
  const dirName = basename(cwd) || 'workspace';
  const target = `${bottle.agentHome}/${dirName}`;
  const progress = context.reporter.progress(`copying ${cwd} into ${bottle.name}:${target}`);
  const tmp = await context.store.makeTempDir('smolmachines-cwd');
  const inVm = `/var/tmp/.bot-bottle-cwd-${Date.now()}.tar`;
  try {
    const archive = join(tmp, 'cwd.tar');
    await runTool(['tar', '-C', dirname(cwd), '-cf', archive, dirName]);
    await cli.machineCp(archive, vmPath(bottle.name, inVm));
    const script = `mkdir -p "$1" && tar -C "$1" -xf "$2" && chown -R "$3": "$1/$4"`;
    const result = await bottle.exec(['sh', '-c', script, 'copy', bottle.agentHome, inVm, bottle.agentUser, dirName], { user: 'root' });
    if (result.exitCode !== 0) throw new BotBottleError(`copying ${cwd} into the bottle failed: ${result.stderr.trim()}`);
    progress.done(`copied to ${target}`);
  } finally {
    await bottle.exec(['rm', '-f', inVm], { user: 'root' }).catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
  }
}
