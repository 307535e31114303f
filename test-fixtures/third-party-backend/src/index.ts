/**
 * bot-bottle-backend-podman: bottles are idle, hardened Podman containers;
 * snapshots are `podman commit`s of the running container.
 *
 * Settings (from BackendContext.env):
 *   BOT_BOTTLE_PODMAN          the podman command (default `podman`)
 *   BOT_BOTTLE_PODMAN_ULIMITS  extra `--ulimit`s, comma separated, e.g.
 *                              `nofile=1024:1024,nproc=1024:1024` (runc in
 *                              some nested setups refuses the default rlimits)
 *   BOT_BOTTLE_PODMAN_NETWORK  `--network` for bottles (default: podman's)
 */
import {
  assertValidSlug,
  BotBottleError,
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
import { PodmanBottle } from './bottle.js';
import { PodmanFreezer } from './freezer.js';
import { agentUserFrom, BACKEND_NAME, HOME_LABEL, homeFor, preparePlan, USER_LABEL, type PodmanBottlePlan } from './plan.js';
import { lines, Podman, PODMAN_FIX } from './podman.js';

export const capabilities: BackendCapabilities = {
  commitWhileRunning: true,
  egressEnforcement: false,
  preservesOwnership: true,
};

/** Root inside the bottle keeps only what it needs to fix file ownership; the agent user gets none. */
const ROOT_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'];

export class PodmanBackend implements BottleBackend<PodmanBottlePlan> {
  readonly name = BACKEND_NAME;
  readonly capabilities = capabilities;
  private readonly podman: Podman;

  constructor(private readonly context: BackendContext) {
    this.podman = new Podman(context.env);
  }

  async availability(): Promise<Availability> {
    try {
      const result = await this.podman.run(['info', '--format', '{{.Host.OCIRuntime.Name}}'], { allowFailure: true });
      if (result.exitCode !== 0) return { available: false, reason: `\`podman info\` failed: ${result.stderr.trim()}`, fix: PODMAN_FIX };
      return { available: true };
    } catch (error) {
      return { available: false, reason: (error as Error).message, fix: PODMAN_FIX };
    }
  }

  prepare(spec: BottleSpec): Promise<PodmanBottlePlan> {
    return preparePlan(this.podman, spec);
  }

  async launch(plan: PodmanBottlePlan, options: LaunchOptions = {}): Promise<PodmanBottle> {
    const { slug } = plan.spec;
    const name = plan.runtimeName;
    if ((await this.podman.container(name)) !== undefined) {
      throw new BotBottleError(`a container named ${name} already exists`, {
        hint: `if it is an old bottle, run \`bot-bottle cleanup ${slug}\` (or \`podman rm -f ${name}\`) and try again`,
      });
    }
    const image = await this.resolveImage(plan, options.signal);
    const config = await this.podman.imageConfig(image.ref);
    const user = plan.user ?? agentUserFrom(config.user);
    const home = plan.home ?? homeFor(user);
    const env = this.context.env;
    const ulimits = (env.BOT_BOTTLE_PODMAN_ULIMITS ?? '').split(',').map((u) => u.trim()).filter(Boolean);
    const labels = { ...plan.labels, [USER_LABEL]: user, [HOME_LABEL]: home };
    const args = [
      'run',
      '--detach',
      '--name',
      name,
      '--hostname',
      slug.slice(0, 63),
      ...Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]),
      ...(env.BOT_BOTTLE_PODMAN_NETWORK ? ['--network', env.BOT_BOTTLE_PODMAN_NETWORK] : []),
      '--pull',
      'never',
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
      ...ulimits.flatMap((u) => ['--ulimit', u]),
      '--entrypoint',
      'sleep',
      image.ref,
      'infinity',
    ];
    let created = false;
    try {
      await this.podman.run(args, options.signal ? { signal: options.signal } : {});
      created = true;
      const bottle = new PodmanBottle(this.podman, slug, name, user, home);
      // /tmp and /var/tmp are scratch: a bottle booted from a snapshot starts them empty.
      const fresh = image.fromSnapshot ? 'find /tmp /var/tmp -xdev -mindepth 1 -delete 2>/dev/null; ' : '';
      const init = await bottle.exec(['sh', '-c', `mkdir -p /tmp /var/tmp && ${fresh}chown 0:0 /tmp /var/tmp && chmod 1777 /tmp /var/tmp`], { user: 'root' });
      if (init.exitCode !== 0) throw new BotBottleError(`could not prepare /tmp in ${name}: ${init.stderr.trim()}`);
      return bottle;
    } catch (error) {
      if (created) await this.podman.removeContainer(name).catch(() => undefined);
      throw error;
    }
  }

  private async resolveImage(plan: PodmanBottlePlan, signal?: AbortSignal): Promise<{ ref: string; fromSnapshot: boolean }> {
    const { slug } = plan.spec;
    const { store, reporter } = this.context;
    const committed = await store.readCommittedRef(slug);
    if (committed !== undefined) {
      if (await this.podman.imageExists(committed)) {
        reporter.info(`resuming ${slug} from committed snapshot ${committed}`);
        return { ref: committed, fromSnapshot: true };
      }
      reporter.warn(`committed snapshot ${committed} of ${slug} is no longer in podman's storage; starting from the bottle's image instead`, 'snapshot-missing');
    }
    const { source } = plan;
    if (source.kind === 'image') {
      if (!(await this.podman.imageExists(source.ref))) {
        throw new BotBottleError(`image ${source.ref} is not in podman's storage`, {
          hint: `build or load it first (\`podman build -t ${source.ref} ...\`, or \`docker save ${source.ref} | podman load\`); bot-bottle never pulls`,
        });
      }
      return { ref: source.ref, fromSnapshot: false };
    }
    const progress = reporter.progress(`building ${source.tag}`);
    const built = await this.podman.run(['build', '-t', source.tag, '-f', source.dockerfile, source.context], {
      allowFailure: true,
      ...(signal ? { signal } : {}),
    });
    if (built.exitCode !== 0) {
      progress.done('failed');
      throw new BotBottleError(`building ${source.tag} failed:\n${lines(built.stderr).slice(-25).join('\n')}`);
    }
    progress.done(`built ${source.tag}`);
    return { ref: source.tag, fromSnapshot: false };
  }

  async attach(slug: string): Promise<PodmanBottle | undefined> {
    assertValidSlug(slug);
    const [name] = await this.podman.containersWithLabels({ [LABELS.slug]: slug, [LABELS.backend]: BACKEND_NAME }, false);
    if (name === undefined) return undefined;
    const state = await this.podman.container(name);
    if (!state?.running) return undefined;
    const user = state.labels[USER_LABEL] || 'root';
    return new PodmanBottle(this.podman, slug, name, user, state.labels[HOME_LABEL] || homeFor(user));
  }

  async listActive(): Promise<ActiveAgent[]> {
    const result = await this.podman.run([
      'ps',
      '--filter',
      `label=${LABELS.backend}=${BACKEND_NAME}`,
      '--format',
      `{{.Names}}\t{{index .Labels "${LABELS.slug}"}}\t{{index .Labels "${LABELS.agent}"}}`,
    ]);
    const agents: ActiveAgent[] = [];
    for (const line of lines(result.stdout)) {
      const [runtimeName = '', slug = '', agentName = ''] = line.split('\t');
      if (!slug || runtimeName !== runtimeNameFor(slug)) continue;
      const startedAt = (await this.context.store.readMetadata(slug).catch(() => undefined))?.startedAt;
      agents.push({ slug, agentName, backend: BACKEND_NAME, runtimeName, ...(startedAt ? { startedAt } : {}) });
    }
    return agents.sort((a, b) => a.slug.localeCompare(b.slug));
  }

  async teardown(slug: string): Promise<void> {
    assertValidSlug(slug);
    for (const name of await this.podman.containersWithLabels({ [LABELS.slug]: slug, [LABELS.backend]: BACKEND_NAME })) {
      await this.podman.removeContainer(name);
    }
  }

  snapshotExists(ref: string): Promise<boolean> {
    return this.podman.imageExists(ref);
  }
}

export { PodmanBottle } from './bottle.js';
export { PodmanFreezer } from './freezer.js';

export default defineBackendPlugin({
  name: BACKEND_NAME,
  contractVersion: CONTRACT_VERSION,
  capabilities,
  createBackend: (context) => new PodmanBackend(context),
  createFreezer: (context) => new PodmanFreezer(context),
});
