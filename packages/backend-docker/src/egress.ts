/**
 * The egress sidecar of a docker bottle that declares `egress`:
 *
 *   agent ── bot-bottle-<slug> (--internal) ── bot-bottle-<slug>-egress ── bot-bottle-<slug>-egress-out ── world
 *
 * The route secrets are read from the operator's environment at launch and
 * go to the sidecar only; the agent gets the proxy variables and the
 * per-bottle CA certificate (never its key, which stays in the proxy's memory).
 */
import { join } from 'node:path';
import { BotBottleError, type BackendContext } from '@bot-bottle/core';
import {
  BASE_IMAGE_SETTING,
  DEFAULT_SIDECAR_BASE_IMAGE,
  SidecarError,
  UPSTREAM_CA_SETTING,
  agentEgressEnvironment,
  engineRunner,
  ensureSidecarImage,
  outboundNetworkName,
  planEgress,
  removeSidecar,
  sidecarName,
  startSidecar,
  type EgressPlan,
  type EngineRunner,
  type RunningSidecar,
} from '@bot-bottle/egress-proxy';
import { EGRESS_ROLE, ROLE_LABEL, type DockerBottlePlan } from './plan.js';
import type { DockerCli } from './runtime.js';

export const EGRESS_LOG = 'egress.log';

/** What launch() needs to run a bottle's sidecar, worked out before anything is created. */
export interface EgressLaunch {
  readonly plan: EgressPlan;
  readonly baseImage: string;
  readonly upstreamCaFile: string | undefined;
  readonly logFile: string;
  readonly run: EngineRunner;
}

/**
 * The bottle's egress plan, or undefined when it declares none. Refuses a
 * bottle whose routes need environment variables that are unset.
 */
export async function planDockerEgress(context: BackendContext, plan: DockerBottlePlan): Promise<EgressLaunch | undefined> {
  const { spec } = plan;
  const egress = spec.bottle.egress;
  if (egress === undefined) return undefined;
  // Named in the proxy's 403 answers; the recorded manifest path when there is one.
  let manifestFile: string | undefined;
  try {
    manifestFile = (await context.store.readMetadata(spec.slug))?.manifestPath;
  } catch {
    manifestFile = undefined;
  }
  const planned = planEgress(
    { bottleName: spec.bottleName, slug: spec.slug, egress, ...(manifestFile !== undefined ? { manifestFile } : {}) },
    context.env,
  );
  if (planned.missing.length > 0) {
    const names = planned.missing.join(', ');
    throw new BotBottleError(
      `bottle ${spec.bottleName} injects headers from environment variable${planned.missing.length > 1 ? 's' : ''} ${names}, which ${planned.missing.length > 1 ? 'are' : 'is'} not set`,
      {
        hint: `set ${names} in the environment bot-bottle runs in (the value goes to the bottle's egress proxy only, never into the bottle), or remove the route from bottles.${spec.bottleName}.egress.routes`,
      },
    );
  }
  const baseImage = nonEmpty(context.env[BASE_IMAGE_SETTING]) ?? DEFAULT_SIDECAR_BASE_IMAGE;
  const upstreamCaFile = nonEmpty(context.env[UPSTREAM_CA_SETTING]);
  return {
    plan: planned,
    baseImage,
    upstreamCaFile,
    logFile: join(context.store.dir(spec.slug), EGRESS_LOG),
    run: engineRunner('docker', context.env),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim().length > 0 ? value.trim() : undefined;
}

function asBotBottleError(error: unknown, hint: string): unknown {
  if (!(error instanceof SidecarError)) return error;
  return new BotBottleError(error.message, { hint, cause: error });
}

/**
 * A sidecar or outbound network of this slug left over from an earlier
 * launch (labels say it is ours) is removed; one that is not ours is an error.
 */
export async function claimSidecarNames(cli: DockerCli, plan: DockerBottlePlan): Promise<void> {
  const slug = plan.spec.slug;
  const name = sidecarName(slug);
  const outbound = outboundNetworkName(slug);
  const ours = (labels: Readonly<Record<string, string>>): boolean =>
    Object.entries(plan.labels).every(([key, value]) => labels[key] === value);
  const state = await cli.containerState(name);
  if (state !== undefined && !(ours(state.labels) && state.labels[ROLE_LABEL] === EGRESS_ROLE)) {
    throw new BotBottleError(`a container named ${name} already exists and was not made for this bottle`, {
      hint: `remove it (\`docker rm -f ${name}\`) if it is not in use, or start with another slug`,
    });
  }
  const network = await cli.networkLabels(outbound);
  if (network !== undefined && !ours(network)) {
    throw new BotBottleError(`a Docker network named ${outbound} already exists and was not made for this bottle`, {
      hint: `remove it (\`docker network rm ${outbound}\`) if it is not in use, or start with another slug`,
    });
  }
  if (state !== undefined) await cli.removeContainer(name);
  if (network !== undefined) await cli.removeNetwork(outbound);
}

/** Build (or find) the sidecar image. */
export async function sidecarImage(context: BackendContext, egress: EgressLaunch): Promise<string> {
  const progress = context.reporter.progress(`preparing the egress proxy image on ${egress.baseImage}`);
  try {
    const image = await ensureSidecarImage(egress.run, egress.baseImage);
    progress.done(image);
    return image;
  } catch (error) {
    progress.done('failed');
    throw asBotBottleError(
      error,
      `load or build an image with node 22+ and set ${BASE_IMAGE_SETTING} to it (default ${DEFAULT_SIDECAR_BASE_IMAGE}; bot-bottle never pulls)`,
    );
  }
}

/** Start the sidecar on the bottle's internal network and its own outbound one. */
export async function startDockerSidecar(
  plan: DockerBottlePlan,
  egress: EgressLaunch,
  image: string,
): Promise<RunningSidecar> {
  try {
    return await startSidecar(egress.run, {
      slug: plan.spec.slug,
      image,
      internalNetwork: plan.networkName,
      config: egress.plan.config,
      secrets: egress.plan.secrets,
      logFile: egress.logFile,
      ...(egress.upstreamCaFile !== undefined ? { upstreamCaFile: egress.upstreamCaFile } : {}),
      labels: { ...plan.labels, [ROLE_LABEL]: EGRESS_ROLE },
    });
  } catch (error) {
    throw asBotBottleError(error, `the proxy's output is above; \`docker logs ${sidecarName(plan.spec.slug)}\` shows it while the container exists`);
  }
}

/** Remove a slug's sidecar and outbound network; idempotent. */
export async function removeDockerSidecar(env: Readonly<Record<string, string | undefined>>, slug: string): Promise<void> {
  try {
    await removeSidecar(engineRunner('docker', env), slug);
  } catch (error) {
    throw asBotBottleError(error, `remove it by hand: \`docker rm -f ${sidecarName(slug)}; docker network rm ${outboundNetworkName(slug)}\``);
  }
}

/** `-e` flags for the agent container: proxy variables and NODE_EXTRA_CA_CERTS, no secrets. */
export function agentEnvFlags(sidecar: RunningSidecar): string[] {
  return Object.entries(agentEgressEnvironment(sidecar.proxyUrl)).flatMap(([key, value]) => ['--env', `${key}=${value}`]);
}
