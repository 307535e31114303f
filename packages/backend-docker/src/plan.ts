/**
 * prepare(): turn a BottleSpec into a DockerBottlePlan. Reads the engine at
 * most (`docker image inspect`); creates nothing.
 */
import {
  assertValidSlug,
  LABELS,
  plannedAgentUser,
  resolveImageSource,
  runtimeNameFor,
  type BottlePlan,
  type BottleSpec,
  type ImageSource,
} from '@bot-bottle/core';
import type { DockerCli } from './runtime.js';

export const BACKEND_NAME = 'docker';
export const DEFAULT_MEMORY = '4g';
export const DEFAULT_PIDS = 1024;
/** Extra label on helper containers (the egress sidecar), so they are never taken for the bottle itself. */
export const ROLE_LABEL = 'dev.bot-bottle.role';
export const EGRESS_ROLE = 'egress-proxy';

export interface DockerBottlePlan extends BottlePlan {
  readonly source: ImageSource;
  /** Agent user from the manifest or the image; undefined until the image is known (Dockerfile builds). */
  readonly user: string | undefined;
  readonly home: string | undefined;
  readonly memory: string;
  readonly pids: number;
  readonly cpus: number | undefined;
  readonly networkName: string;
  readonly labels: Readonly<Record<string, string>>;
}

export async function prepareDockerPlan(cli: DockerCli, spec: BottleSpec): Promise<DockerBottlePlan> {
  const slug = assertValidSlug(spec.slug);
  const bottle = spec.bottle;
  const source = await resolveImageSource(spec);
  const { user, home } = await plannedAgentUser(bottle, source, async (ref) =>
    (await cli.imageExists(ref)) ? (await cli.imageConfig(ref)).user : undefined,
  );

  return {
    spec,
    backend: BACKEND_NAME,
    runtimeName: runtimeNameFor(slug),
    source,
    user,
    home,
    memory: bottle.resources?.memory ?? DEFAULT_MEMORY,
    pids: bottle.resources?.pids ?? DEFAULT_PIDS,
    cpus: bottle.resources?.cpus,
    networkName: runtimeNameFor(slug),
    labels: { [LABELS.slug]: slug, [LABELS.agent]: spec.agentName, [LABELS.backend]: BACKEND_NAME },
  };
}
