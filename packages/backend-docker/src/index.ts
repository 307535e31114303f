/**
 * @bot-bottle/backend-docker: bottles are hardened, idle Docker containers
 * on a per-bottle network; snapshots are `docker commit`s of the running
 * container.
 */
import {
  assertValidSlug,
  CONTRACT_VERSION,
  defineBackendPlugin,
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
import { dockerAvailability } from './availability.js';
import { DockerBottle } from './bottle.js';
import { DockerFreezer } from './freezer.js';
import { launchDocker } from './launch.js';
import { BACKEND_NAME, HOME_LABEL, homeFor, USER_LABEL, prepareDockerPlan, type DockerBottlePlan } from './plan.js';
import { DockerCli, lines } from './runtime.js';

export const capabilities: BackendCapabilities = {
  commitWhileRunning: true,
  egressEnforcement: false,
  preservesOwnership: true,
};

export class DockerBackend implements BottleBackend<DockerBottlePlan> {
  readonly name = BACKEND_NAME;
  readonly capabilities = capabilities;
  readonly cli: DockerCli;

  constructor(private readonly context: BackendContext) {
    this.cli = new DockerCli(context.env);
  }

  availability(): Promise<Availability> {
    return dockerAvailability(this.cli);
  }

  prepare(spec: BottleSpec): Promise<DockerBottlePlan> {
    return prepareDockerPlan(this.cli, spec);
  }

  launch(plan: DockerBottlePlan, options?: LaunchOptions): Promise<DockerBottle> {
    return launchDocker(this.cli, this.context, plan, options);
  }

  async attach(slug: string): Promise<DockerBottle | undefined> {
    assertValidSlug(slug);
    const ids = await this.cli.containersWithLabels({ [LABELS.slug]: slug, [LABELS.backend]: BACKEND_NAME }, false);
    const id = ids[0];
    if (id === undefined) return undefined;
    const result = await this.cli.run(
      ['container', 'inspect', '--format', `{{.Name}}\t{{index .Config.Labels "${USER_LABEL}"}}\t{{index .Config.Labels "${HOME_LABEL}"}}`, id],
      { allowFailure: true },
    );
    if (result.exitCode !== 0) return undefined;
    const [rawName = '', rawUser = '', rawHome = ''] = result.stdout.trim().split('\t');
    const user = rawUser || 'root';
    return new DockerBottle(this.cli, slug, rawName.replace(/^\//, '') || runtimeNameFor(slug), user, rawHome || homeFor(user));
  }

  async listActive(): Promise<ActiveAgent[]> {
    const result = await this.cli.run([
      'ps',
      '--filter',
      `label=${LABELS.backend}=${BACKEND_NAME}`,
      '--format',
      `{{.Names}}\t{{.Label "${LABELS.slug}"}}\t{{.Label "${LABELS.agent}"}}`,
    ]);
    const agents: ActiveAgent[] = [];
    for (const line of lines(result.stdout)) {
      const [runtimeName = '', slug = '', agentName = ''] = line.split('\t');
      if (slug.length === 0) continue;
      let startedAt: string | undefined;
      try {
        startedAt = (await this.context.store.readMetadata(slug))?.startedAt;
      } catch {
        startedAt = undefined;
      }
      agents.push({ slug, agentName, backend: BACKEND_NAME, runtimeName, ...(startedAt ? { startedAt } : {}) });
    }
    return agents.sort((a, b) => a.slug.localeCompare(b.slug));
  }

  async teardown(slug: string): Promise<void> {
    assertValidSlug(slug);
    const labels = { [LABELS.slug]: slug, [LABELS.backend]: BACKEND_NAME };
    for (const id of await this.cli.containersWithLabels(labels)) await this.cli.removeContainer(id);
    for (const id of await this.cli.networksWithLabels(labels)) await this.cli.removeNetwork(id);
  }

  snapshotExists(ref: string): Promise<boolean> {
    return this.cli.imageExists(ref);
  }
}

export { DockerBottle } from './bottle.js';
export { DockerFreezer } from './freezer.js';
export { DockerCli } from './runtime.js';
export type { DockerBottlePlan } from './plan.js';

export default defineBackendPlugin({
  name: BACKEND_NAME,
  contractVersion: CONTRACT_VERSION,
  capabilities,
  createBackend: (context) => new DockerBackend(context),
  createFreezer: (context) => new DockerFreezer(context),
});
