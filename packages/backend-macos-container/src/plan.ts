/**
 * prepare(): turn a BottleSpec into a MacosContainerPlan. Reads the runtime
 * at most (`container image inspect`); creates nothing.
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
import type { ContainerCli } from './runtime.js';

export const BACKEND_NAME = 'macos-container';
export const DEFAULT_MEMORY = '4g';

export interface MacosContainerPlan extends BottlePlan {
  readonly source: ImageSource;
  /** Agent user from the manifest or the image; undefined until the image is known (Dockerfile builds). */
  readonly user: string | undefined;
  readonly home: string | undefined;
  readonly memory: string;
  readonly cpus: number | undefined;
  readonly networkName: string;
  readonly labels: Readonly<Record<string, string>>;
}

export async function prepareMacosContainerPlan(cli: ContainerCli, spec: BottleSpec): Promise<MacosContainerPlan> {
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
    cpus: bottle.resources?.cpus,
    networkName: runtimeNameFor(slug),
    labels: { [LABELS.slug]: slug, [LABELS.agent]: spec.agentName, [LABELS.backend]: BACKEND_NAME },
  };
}
