/**
 * __PACKAGE_NAME__: the "__BACKEND_NAME__" bot-bottle backend.
 *
 * The CLI finds this module through the "botBottle" key of package.json
 * (after checking its "contract" range) and uses its default export. Fill
 * in every TODO, then run `npm test`: the contract suite tells you, case by
 * case, what is still missing.
 */
import {
  assertValidSlug,
  BotBottleError,
  CONTRACT_VERSION,
  defineBackendPlugin,
  runtimeNameFor,
  type ActiveAgent,
  type Availability,
  type BackendCapabilities,
  type BackendContext,
  type Bottle,
  type BottleBackend,
  type BottlePlan,
  type BottleSpec,
  type LaunchOptions,
} from '@bot-bottle/core';
import { BACKEND_NAME, __CLASS__Freezer } from './freezer.js';

/** What this backend can do; the contract suite tests exactly what is declared here. */
export const capabilities: BackendCapabilities = {
  commitWhileRunning: true,
  egressEnforcement: false,
  preservesOwnership: true,
};

function notImplemented(what: string): BotBottleError {
  return new BotBottleError(`backend ${BACKEND_NAME}: ${what} is not implemented yet`);
}

export class __CLASS__Backend implements BottleBackend {
  readonly name = BACKEND_NAME;
  readonly capabilities = capabilities;

  constructor(readonly context: BackendContext) {}

  /** Whether the runtime answers here; when not, say why and what fixes it. Never throws. */
  async availability(): Promise<Availability> {
    // TODO: ask the runtime (e.g. run its `version` command).
    return { available: false, reason: 'not implemented yet', fix: 'implement availability() in src/index.ts' };
  }

  /** Resolve the spec into a plan; touch no runtime objects. */
  async prepare(spec: BottleSpec): Promise<BottlePlan> {
    const slug = assertValidSlug(spec.slug);
    return { spec, backend: BACKEND_NAME, runtimeName: runtimeNameFor(slug) };
  }

  /**
   * Create the bottle and leave it idle. Boot from the committed snapshot
   * (`context.store.readCommittedRef(slug)`) when it still exists, saying so
   * through `context.reporter`; warn with code `snapshot-missing` and boot
   * the bottle's image when it is gone. Remove what you created on failure.
   */
  async launch(_plan: BottlePlan, _options?: LaunchOptions): Promise<Bottle> {
    throw notImplemented('launch');
  }

  /** A handle on the running bottle of `slug`, or undefined. */
  async attach(slug: string): Promise<Bottle | undefined> {
    assertValidSlug(slug);
    // TODO: find the runtime object named runtimeNameFor(slug).
    return undefined;
  }

  async listActive(): Promise<ActiveAgent[]> {
    // TODO: list this backend's running bottles.
    return [];
  }

  /** Remove the bottle's runtime objects. Idempotent; never touches state files or snapshots. */
  async teardown(slug: string): Promise<void> {
    assertValidSlug(slug);
    // TODO
  }

  async snapshotExists(_ref: string): Promise<boolean> {
    // TODO: whether the committed image/artifact `ref` still exists.
    return false;
  }
}

export { __CLASS__Freezer } from './freezer.js';

export default defineBackendPlugin({
  name: BACKEND_NAME,
  contractVersion: CONTRACT_VERSION,
  capabilities,
  createBackend: (context) => new __CLASS__Backend(context),
  createFreezer: (context) => new __CLASS__Freezer(context),
});
