/**
 * @bot-bottle/backend-docker: bottles are hardened, idle Docker containers
 * on a per-bottle network; snapshots are `docker commit`s of the running
 * container. A bottle that declares `egress` reaches the network only
 * through its egress proxy sidecar.
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
import { dockerAvailability } from './availability.js';
import { DockerBottle } from './bottle.js';
import { removeDockerSidecar } from './egress.js';
import { DockerFreezer } from './freezer.js';
import { launchDocker } from './launch.js';
import { BACKEND_NAME, ROLE_LABEL, prepareDockerPlan, type DockerBottlePlan } from './plan.js';
import { DockerCli, lines } from './runtime.js';

export const capabilities: BackendCapabilities = {
  commitWhileRunning: true,
  egressEnforcement: true,
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
    for (const id of ids) {
      const result = await this.cli.run(
        [
          'container',
          'inspect',
          '--format',
          `{{.Name}}\t{{index .Config.Labels "${LABELS.user}"}}\t{{index .Config.Labels "${LABELS.home}"}}\t{{index .Config.Labels "${ROLE_LABEL}"}}`,
          id,
        ],
        { allowFailure: true },
      );
      if (result.exitCode !== 0) continue;
      const [rawName = '', rawUser = '', rawHome = '', role = ''] = result.stdout.trim().split('\t');
      // The egress sidecar carries the bottle's labels too; it is not the bottle.
      if (role.length > 0) continue;
      const user = rawUser || 'root';
      return new DockerBottle(this.cli, slug, rawName.replace(/^\//, '') || runtimeNameFor(slug), user, rawHome || homeFor(user));
    }
    return undefined;
  }

  async listActive(): Promise<ActiveAgent[]> {
    const result = await this.cli.run([
      'ps',
      '--filter',
      `label=${LABELS.backend}=${BACKEND_NAME}`,
      '--format',
      `{{.Names}}\t{{.Label "${LABELS.slug}"}}\t{{.Label "${LABELS.agent}"}}\t{{.Label "${ROLE_LABEL}"}}`,
    ]);
    const agents: ActiveAgent[] = [];
    for (const line of lines(result.stdout)) {
      const [runtimeName = '', slug = '', agentName = '', role = ''] = line.split('\t');
      // Skip helpers such as the egress sidecar: only the bottle itself is an agent.
      if (slug.length === 0 || role.length > 0) continue;
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
    // The bottle and its egress sidecar (both labelled), then the sidecar's
    // outbound network by name, then the remaining networks.
    for (const id of await this.cli.containersWithLabels(labels)) await this.cli.removeContainer(id);
    await removeDockerSidecar(this.context.env, slug);
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
