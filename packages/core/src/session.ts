/**
 * The lifecycle steps every CLI command and the contract suite share:
 * start, resume, end and list bottles. Commands stay thin wrappers so the
 * behaviour is tested once, here, against any backend.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ActiveAgent, Bottle, BottleBackend, BottlePlan } from './contract.js';
import { BackendUnavailableError, BotBottleError, ManifestError, StateCorruptError } from './errors.js';
import { loadManifest, type LoadedManifest } from './manifest/load.js';
import { buildSpec, resolveAgent } from './manifest/resolve.js';
import type { AgentConfig, BottleConfig } from './manifest/schema.js';
import type { Reporter } from './reporter.js';
import { assertValidSlug, generateSlug, isValidSlug } from './slug.js';
import type { BottleMetadata, StateStore } from './state/store.js';

export interface SessionDeps {
  readonly backend: BottleBackend;
  readonly store: StateStore;
  readonly reporter: Reporter;
}

export interface StartBottleOptions {
  readonly loaded: LoadedManifest;
  readonly agentName: string;
  /** The user's working directory (recorded, and copied in when the agent sets copyCwd). */
  readonly cwd: string;
  /** Use this slug instead of generating one; it must not exist yet. */
  readonly slug?: string;
  readonly signal?: AbortSignal;
}

export interface StartedBottle {
  readonly slug: string;
  readonly bottle: Bottle;
  readonly plan: BottlePlan;
}

export interface ResumeBottleOptions {
  readonly slug: string;
  /** The manifest to use; by default the one the bottle was started from is reloaded. */
  readonly loaded?: LoadedManifest;
  readonly signal?: AbortSignal;
}

export interface ResumedBottle extends StartedBottle {
  /** A committed snapshot was recorded and still exists, so the backend booted from it. */
  readonly fromSnapshot: boolean;
}

export interface EndedBottle {
  /** The state directory was deleted. */
  readonly removedState: boolean;
  /** The bottle was committed, so its state (and snapshot) were kept for a later resume. */
  readonly preserved: boolean;
}

export type ListedBottle = ActiveAgent & { readonly preserved: boolean; readonly committedRef?: string };

/** True when the bottle declares an egress policy (an empty `egress: {}` still confines it: nothing is allowed). */
export function declaresEgress(bottle: BottleConfig): boolean {
  return bottle.egress !== undefined;
}

/**
 * A bottle that declares an egress policy must never run unconfined because
 * its backend cannot enforce one: refuse before anything is written.
 */
export function assertEgressEnforceable(
  backend: BottleBackend,
  bottleName: string,
  bottle: BottleConfig,
  manifestFile: string,
): void {
  if (!declaresEgress(bottle) || backend.capabilities.egressEnforcement) return;
  throw new BackendUnavailableError(
    `bottle ${bottleName} declares an egress policy, but the ${backend.name} backend cannot enforce one; refusing to run it unconfined`,
    {
      hint: `run it on a backend that enforces egress (\`bot-bottle backends\` lists them), or remove bottles.${bottleName}.egress from ${manifestFile} to let it reach any host`,
    },
  );
}

/** How many generated slugs to try before concluding something is wrong with the state directory. */
const SLUG_ATTEMPTS = 5;

/** The argv that starts an agent inside its bottle. */
export function agentCommand(agent: AgentConfig): string[] {
  switch (agent.template) {
    case 'claude':
      return ['claude', ...(agent.prompt ? ['--append-system-prompt', agent.prompt] : [])];
    case 'codex':
      return ['codex', ...(agent.prompt ? [agent.prompt] : [])];
    case 'shell': {
      const { command } = agent;
      if (command === undefined) {
        throw new ManifestError('a "shell" agent needs a "command"', { hint: 'add "command" to the agent in the manifest' });
      }
      return typeof command === 'string' ? ['sh', '-c', command] : [...command];
    }
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function generateFreeSlug(store: StateStore, agentName: string): Promise<string> {
  for (let attempt = 0; attempt < SLUG_ATTEMPTS; attempt += 1) {
    const slug = generateSlug(agentName);
    if (!(await store.exists(slug))) return slug;
  }
  throw new BotBottleError(`could not find an unused slug for ${agentName} after ${SLUG_ATTEMPTS} tries`, {
    hint: `check ${store.stateRoot} for leftover bottles and remove the ones you no longer need`,
  });
}

/** Undo a start that failed half way. Failures here are reported, never thrown over the original error. */
async function abandonStart(deps: SessionDeps, slug: string, launchAttempted: boolean): Promise<void> {
  if (launchAttempted) {
    try {
      await deps.backend.teardown(slug);
    } catch (error) {
      deps.reporter.warn(`could not remove the runtime objects of ${slug}: ${describeError(error)}`, 'cleanup-failed');
    }
  }
  try {
    await deps.store.removeState(slug);
  } catch (error) {
    deps.reporter.warn(`could not remove the state of ${slug}: ${describeError(error)}`, 'cleanup-failed');
  }
}

/**
 * Start a new bottle for an agent. Everything that can be checked without
 * side effects (agent, backend, slug) is checked before anything is
 * written; a failed launch leaves neither runtime objects nor state.
 */
export async function startBottle(deps: SessionDeps, options: StartBottleOptions): Promise<StartedBottle> {
  const { backend, store } = deps;
  const { loaded, agentName } = options;
  const { bottle: bottleConfig, bottleName } = resolveAgent(loaded, agentName);
  if (bottleConfig.backend !== backend.name) {
    throw new BackendUnavailableError(
      `agent ${agentName} runs on backend "${bottleConfig.backend}", but the ${backend.name} backend was given`,
      { hint: `use --backend ${bottleConfig.backend}, or change the bottle's "backend" in ${loaded.file}` },
    );
  }
  assertEgressEnforceable(backend, bottleName, bottleConfig, loaded.file);
  const slug = options.slug !== undefined ? assertValidSlug(options.slug) : await generateFreeSlug(store, agentName);
  const spec = buildSpec(loaded, agentName, slug, options.cwd);

  return store.withLock(slug, async () => {
    if (await store.exists(slug)) {
      throw new BotBottleError(`a bottle named ${slug} already exists`, {
        hint: `resume it with \`bot-bottle resume ${slug}\`, or choose another slug`,
      });
    }
    await store.writeMetadata({
      identity: slug,
      agent: agentName,
      backend: backend.name,
      cwd: spec.cwd,
      manifestPath: loaded.file,
      startedAt: new Date().toISOString(),
    });
    let launchAttempted = false;
    try {
      const plan = await backend.prepare(spec);
      launchAttempted = true;
      const bottle = await backend.launch(plan, { signal: options.signal });
      return { slug, bottle, plan };
    } catch (error) {
      await abandonStart(deps, slug, launchAttempted);
      throw error;
    }
  });
}

/** The manifest a bottle was started from, for a resume run outside the project directory. */
async function loadRecordedManifest(slug: string, metadata: BottleMetadata): Promise<LoadedManifest> {
  const hint = `run \`bot-bottle resume ${slug}\` from the project directory so its manifest is found`;
  const file = metadata.manifestPath;
  if (file === undefined) {
    throw new ManifestError(`bottle ${slug} has no recorded manifest`, { hint });
  }
  if (!existsSync(file)) {
    throw new ManifestError(`the manifest bottle ${slug} was started from, ${file}, no longer exists`, { file, hint });
  }
  return loadManifest(dirname(file), { file });
}

/**
 * Launch a stopped bottle again under the same slug. The backend boots from
 * the committed snapshot when one is recorded and still exists.
 */
export async function resumeBottle(deps: SessionDeps, options: ResumeBottleOptions): Promise<ResumedBottle> {
  const { backend, store, reporter } = deps;
  const slug = assertValidSlug(options.slug);
  const metadata = await store.requireMetadata(slug);
  if (metadata.backend !== backend.name) {
    throw new BackendUnavailableError(`bottle ${slug} runs on backend ${metadata.backend}, not ${backend.name}`, {
      hint: `resume it with the ${metadata.backend} backend installed`,
    });
  }
  const loaded = options.loaded ?? (await loadRecordedManifest(slug, metadata));
  const spec = buildSpec(loaded, metadata.agent, slug, metadata.cwd);
  assertEgressEnforceable(backend, spec.bottleName, spec.bottle, loaded.file);
  if (spec.bottle.backend !== backend.name) {
    // The snapshot lives where the bottle ran; a changed manifest cannot move it.
    reporter.warn(
      `the manifest now puts agent ${metadata.agent} on backend ${spec.bottle.backend}; resuming ${slug} on ${backend.name}, where it ran`,
    );
  }

  return store.withLock(slug, async () => {
    if (await backend.attach(slug)) {
      throw new BotBottleError(`bottle ${slug} is already running`, {
        hint: `open a shell in it with \`bot-bottle exec ${slug}\`, or remove it with \`bot-bottle cleanup ${slug}\``,
      });
    }
    const ref = await store.readCommittedRef(slug);
    const fromSnapshot = ref !== undefined && (await backend.snapshotExists(ref));
    const plan = await backend.prepare(spec);
    let bottle: Bottle;
    try {
      bottle = await backend.launch(plan, { signal: options.signal });
    } catch (error) {
      // State stays: it holds the committed ref the user will retry with.
      try {
        await backend.teardown(slug);
      } catch (teardownError) {
        reporter.warn(`could not remove the runtime objects of ${slug}: ${describeError(teardownError)}`, 'cleanup-failed');
      }
      throw error;
    }
    await store.writeMetadata({ ...metadata, manifestPath: loaded.file, startedAt: new Date().toISOString() });
    return { slug, bottle, plan, fromSnapshot };
  });
}

/**
 * Remove a bottle's runtime objects, then its state unless a commit marked
 * it preserved. Waits for a commit of the same bottle to finish first.
 */
export async function endBottle(deps: SessionDeps, slug: string): Promise<EndedBottle> {
  const { backend, store } = deps;
  assertValidSlug(slug);
  const metadata = await store.readMetadata(slug);
  if (metadata && metadata.backend !== backend.name) {
    throw new BackendUnavailableError(`bottle ${slug} runs on backend ${metadata.backend}, not ${backend.name}`);
  }
  return store.withLock(slug, async () => {
    await backend.teardown(slug);
    const preserved = await store.isPreserved(slug);
    const removedState = await store.removeState(slug);
    return { removedState, preserved };
  });
}

/** Running bottles as the runtimes report them, with what the state store knows about each. */
export async function listBottles(backends: readonly BottleBackend[], store: StateStore): Promise<ListedBottle[]> {
  const active = (await Promise.all(backends.map((backend) => backend.listActive()))).flat();
  const listed = await Promise.all(
    active.map(async (agent): Promise<ListedBottle> => {
      // A runtime object with a label we did not write must not reach a state path.
      if (!isValidSlug(agent.slug)) return { ...agent, preserved: false };
      let metadata: BottleMetadata | undefined;
      try {
        metadata = await store.readMetadata(agent.slug);
      } catch (error) {
        // One corrupt state file must not hide every other bottle from the list.
        if (!(error instanceof StateCorruptError)) throw error;
      }
      const committedRef = await store.readCommittedRef(agent.slug);
      const startedAt = agent.startedAt ?? metadata?.startedAt;
      return {
        ...agent,
        agentName: agent.agentName || metadata?.agent || '',
        ...(startedAt !== undefined ? { startedAt } : {}),
        preserved: await store.isPreserved(agent.slug),
        ...(committedRef !== undefined ? { committedRef } : {}),
      };
    }),
  );
  return listed.sort((a, b) => a.slug.localeCompare(b.slug));
}
