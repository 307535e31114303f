/**
 * @bot-bottle/backend-smolmachines: bottles are smolvm micro-VMs booted
 * from `.smolmachine` artifacts; snapshots are taken from the running VM
 * (in-VM tar, copied out, rebuilt as an OCI image without Docker, packed).
 */
import {
  assertValidSlug,
  CONTRACT_VERSION,
  defineBackendPlugin,
  homeFor,
  RUNTIME_NAME_PREFIX,
  runtimeNameFor,
  type ActiveAgent,
  type Availability,
  type BackendCapabilities,
  type BackendContext,
  type BottleBackend,
  type BottleSpec,
  type LaunchOptions,
} from '@bot-bottle/core';
import { fileExists } from './artifact.js';
import { smolvmAvailability } from './availability.js';
import { SmolmachinesBottle } from './bottle.js';
import { SmolmachinesFreezer } from './freezer.js';
import { launchSmolmachines, removeMachine } from './launch.js';
import { BACKEND_NAME, prepareSmolmachinesPlan, settingsFromEnv, type SmolmachinesBottlePlan } from './plan.js';
import { SmolvmCli } from './smolvm.js';
import { readBackendState } from './state.js';

export const capabilities: BackendCapabilities = {
  commitWhileRunning: true,
  egressEnforcement: false,
  // The packer may hand every file to one uid; launch restores owners from the commit's manifest.
  preservesOwnership: false,
};

export class SmolmachinesBackend implements BottleBackend<SmolmachinesBottlePlan> {
  readonly name = BACKEND_NAME;
  readonly capabilities = capabilities;
  readonly cli: SmolvmCli;

  constructor(private readonly context: BackendContext, cli?: SmolvmCli) {
    this.cli = cli ?? new SmolvmCli(context.env);
  }

  availability(): Promise<Availability> {
    return smolvmAvailability(this.cli);
  }

  prepare(spec: BottleSpec): Promise<SmolmachinesBottlePlan> {
    return prepareSmolmachinesPlan(spec, settingsFromEnv(this.context.env));
  }

  launch(plan: SmolmachinesBottlePlan, options?: LaunchOptions): Promise<SmolmachinesBottle> {
    return launchSmolmachines(this.cli, this.context, plan, options);
  }

  async attach(slug: string): Promise<SmolmachinesBottle | undefined> {
    assertValidSlug(slug);
    const name = runtimeNameFor(slug);
    const machine = (await this.cli.machineList()).find((m) => m.name === name);
    if (!machine || machine.state !== 'running') return undefined;
    const state = await readBackendState(this.context.store, slug);
    const user = state?.user ?? 'node';
    const home = state?.home ?? homeFor(user);
    return new SmolmachinesBottle(this.cli, { slug, name, agentUser: user, agentHome: home, workdir: state?.workdir ?? home });
  }

  async listActive(): Promise<ActiveAgent[]> {
    const agents: ActiveAgent[] = [];
    for (const machine of await this.cli.machineList()) {
      if (!machine.name.startsWith(RUNTIME_NAME_PREFIX) || machine.state !== 'running') continue;
      const slug = machine.name.slice(RUNTIME_NAME_PREFIX.length);
      let metadata;
      try {
        metadata = await this.context.store.readMetadata(slug);
      } catch {
        metadata = undefined;
      }
      if (metadata && metadata.backend !== BACKEND_NAME) continue;
      agents.push({
        slug,
        agentName: metadata?.agent ?? '',
        backend: BACKEND_NAME,
        runtimeName: machine.name,
        ...(metadata?.startedAt ? { startedAt: metadata.startedAt } : {}),
      });
    }
    return agents.sort((a, b) => a.slug.localeCompare(b.slug));
  }

  async teardown(slug: string): Promise<void> {
    assertValidSlug(slug);
    await removeMachine(this.cli, runtimeNameFor(slug));
  }

  snapshotExists(ref: string): Promise<boolean> {
    return fileExists(ref);
  }
}

export { SmolmachinesBottle } from './bottle.js';
export { SmolmachinesFreezer } from './freezer.js';
export { SmolvmCli, SmolvmError, argvFor } from './smolvm.js';
export type { SmolmachinesBottlePlan } from './plan.js';

export default defineBackendPlugin({
  name: BACKEND_NAME,
  contractVersion: CONTRACT_VERSION,
  capabilities,
  createBackend: (context) => new SmolmachinesBackend(context),
  createFreezer: (context) => new SmolmachinesFreezer(context),
});
