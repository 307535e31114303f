/**
 * prepare(): turn a BottleSpec into a SmolmachinesBottlePlan. Touches no
 * runtime object; the image itself is only read at launch.
 */
import {
  assertValidSlug,
  homeFor,
  resolveImageSource,
  runtimeNameFor,
  type BottlePlan,
  type BottleSpec,
  type ImageSource,
} from '@bot-bottle/core';

export const BACKEND_NAME = 'smolmachines';

export interface SmolmachinesBottlePlan extends BottlePlan {
  readonly source: ImageSource;
  /** Agent user from the manifest; undefined means "the image's user, else node". */
  readonly user: string | undefined;
  readonly home: string | undefined;
  /** Give the VM a network (sent explicitly whenever CIDRs are allowed). */
  readonly net: boolean;
  readonly allowCidrs: readonly string[];
}

export interface PlanSettings {
  /** `BOT_BOTTLE_SMOLMACHINES_NET=1` gives every VM a network. */
  readonly net: boolean;
  /** `BOT_BOTTLE_SMOLMACHINES_ALLOW_CIDRS=10.0.0.0/8,1.2.3.4/32` */
  readonly allowCidrs: readonly string[];
}

export function settingsFromEnv(env: Readonly<Record<string, string | undefined>>): PlanSettings {
  const cidrs = (env.BOT_BOTTLE_SMOLMACHINES_ALLOW_CIDRS ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c.length > 0);
  const net = /^(1|true|yes)$/i.test(env.BOT_BOTTLE_SMOLMACHINES_NET ?? '');
  return { net, allowCidrs: cidrs };
}

export async function prepareSmolmachinesPlan(spec: BottleSpec, settings: PlanSettings): Promise<SmolmachinesBottlePlan> {
  const slug = assertValidSlug(spec.slug);
  const bottle = spec.bottle;
  const source = await resolveImageSource(spec);
  return {
    spec,
    backend: BACKEND_NAME,
    runtimeName: runtimeNameFor(slug),
    source,
    user: bottle.user,
    home: bottle.home ?? (bottle.user !== undefined ? homeFor(bottle.user) : undefined),
    net: settings.net || settings.allowCidrs.length > 0,
    allowCidrs: settings.allowCidrs,
  };
}
