/**
 * @bot-bottle/backend-macos-container: bottles are idle containers of
 * Apple's `container` (one lightweight VM each) on a per-bottle network;
 * snapshots stream the running container's filesystem out with exec + tar
 * and build an image from it, because a stopped container is deleted.
 */
import {
  assertValidSlug,
  CONTRACT_VERSION,
  defineBackendPlugin,
  homeFor,
  LABELS,
  runtimeNameFor,
  type ActiveAgent,
  type Availability,
  type BackendCapabilities,
  type BackendContext,
  type BottleBackend,
  type BottleSpec,
  type LaunchOptions,
} from '@bot-bottle/core';
import { containerAvailability } from './availability.js';
import { MacosContainerBottle } from './bottle.js';
import { MacosContainerFreezer } from './freezer.js';
import { launchMacosContainer } from './launch.js';
import { BACKEND_NAME, prepareMacosContainerPlan, type MacosContainerPlan } from './plan.js';
import { ContainerCli } from './runtime.js';

export const capabilities: BackendCapabilities = {
  commitWhileRunning: true,
  egressEnforcement: false,
  preservesOwnership: true,
};

export class MacosContainerBackend implements BottleBackend<MacosContainerPlan> {
  readonly name = BACKEND_NAME;
  readonly capabilities = capabilities;
  readonly cli: ContainerCli;
  private emulatorNoted = false;

  constructor(private readonly context: BackendContext) {
    this.cli = new ContainerCli(context.env);
  }

  async availability(): Promise<Availability> {
    if (this.cli.emulated && !this.emulatorNoted) {
      this.emulatorNoted = true;
      this.context.reporter.info(`macos-container: using the container EMULATOR at ${this.cli.binary} (not Apple's container)`);
    }
    return containerAvailability(this.cli, this.context.env);
  }

  prepare(spec: BottleSpec): Promise<MacosContainerPlan> {
    return prepareMacosContainerPlan(this.cli, spec);
  }

  launch(plan: MacosContainerPlan, options?: LaunchOptions): Promise<MacosContainerBottle> {
    return launchMacosContainer(this.cli, this.context, plan, options);
  }

  async attach(slug: string): Promise<MacosContainerBottle | undefined> {
    assertValidSlug(slug);
    const name = runtimeNameFor(slug);
    const found = (await this.cli.listContainers(false)).find(
      (c) =>
        c.status === 'running' &&
        c.configuration.labels?.[LABELS.slug] === slug &&
        c.configuration.labels?.[LABELS.backend] === BACKEND_NAME,
    );
    if (!found) return undefined;
    const user = found.configuration.labels?.[LABELS.user] || 'node';
    const home = found.configuration.labels?.[LABELS.home] || homeFor(user);
    return new MacosContainerBottle(this.cli, slug, found.configuration.id || name, user, home);
  }

  async listActive(): Promise<ActiveAgent[]> {
    const agents: ActiveAgent[] = [];
    for (const c of await this.cli.listContainers(false)) {
      const labels = c.configuration.labels ?? {};
      const slug = labels[LABELS.slug];
      if (c.status !== 'running' || labels[LABELS.backend] !== BACKEND_NAME || !slug) continue;
      let startedAt: string | undefined;
      try {
        startedAt = (await this.context.store.readMetadata(slug))?.startedAt;
      } catch {
        startedAt = undefined;
      }
      agents.push({
        slug,
        agentName: labels[LABELS.agent] ?? '',
        backend: BACKEND_NAME,
        runtimeName: c.configuration.id,
        ...(startedAt ? { startedAt } : {}),
      });
    }
    return agents.sort((a, b) => a.slug.localeCompare(b.slug));
  }

  async teardown(slug: string): Promise<void> {
    assertValidSlug(slug);
    const name = runtimeNameFor(slug);
    const found = await this.cli.findContainer(name, true);
    if (found !== undefined) {
      const labels = found.configuration.labels ?? {};
      if (labels[LABELS.slug] === slug && labels[LABELS.backend] === BACKEND_NAME) await this.cli.removeContainer(name);
    }
    await this.cli.removeNetwork(name);
  }

  snapshotExists(ref: string): Promise<boolean> {
    return this.cli.imageExists(ref);
  }
}

export { MacosContainerBottle } from './bottle.js';
export { MacosContainerFreezer, snapshotDockerfile, tarArgs } from './freezer.js';
export { ensureBuilderDns, staleBuilderDns } from './builder.js';
export { containerAvailability } from './availability.js';
export { ContainerCli, EMULATOR_ENV } from './runtime.js';
export type { MacosContainerPlan } from './plan.js';

export default defineBackendPlugin({
  name: BACKEND_NAME,
  contractVersion: CONTRACT_VERSION,
  capabilities,
  createBackend: (context) => new MacosContainerBackend(context),
  createFreezer: (context) => new MacosContainerFreezer(context),
});
