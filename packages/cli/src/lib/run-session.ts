import { agentCommand, endBottle, type AgentConfig, type Bottle, type BottleBackend, type Reporter, type StateStore } from '@bot-bottle/core';
import { withSignals } from './signals.js';

export interface SessionTarget {
  readonly slug: string;
  readonly bottle: Bottle;
  readonly agent: AgentConfig;
  readonly deps: { readonly backend: BottleBackend; readonly store: StateStore; readonly reporter: Reporter };
}

/** What `start --detach --json` / `resume --detach --json` print. */
export interface DetachedResult {
  readonly slug: string;
  readonly backend: string;
  readonly container: string;
}

export interface AttachedResult extends DetachedResult {
  readonly exitCode: number;
  readonly removedState: boolean;
  readonly preserved: boolean;
}

/** Start the agent in the background; the bottle keeps running. */
export async function runDetached(target: SessionTarget): Promise<DetachedResult> {
  await target.bottle.execDetached(agentCommand(target.agent));
  const { reporter } = target.deps;
  reporter.info(`bottle ${target.slug} is running in the background`);
  reporter.info(`  shell:    bot-bottle exec ${target.slug}`);
  reporter.info(`  snapshot: bot-bottle commit ${target.slug}`);
  reporter.info(`  end:      bot-bottle cleanup ${target.slug}`);
  return { slug: target.slug, backend: target.deps.backend.name, container: target.bottle.name };
}

/**
 * Run the agent attached to this terminal; when it exits (or bot-bottle is
 * told to stop) end the bottle, keeping its state if it was committed.
 */
export async function runAttached(target: SessionTarget): Promise<AttachedResult> {
  const { reporter } = target.deps;
  let exitCode: number;
  try {
    exitCode = await withSignals('interactive', (signal) =>
      target.bottle.execInteractive(agentCommand(target.agent), { signal }),
    );
  } catch (error) {
    // The session failed: still end the bottle, then report the first error.
    await endBottle(target.deps, target.slug).catch((endError: unknown) => {
      reporter.warn(`could not end bottle ${target.slug}: ${(endError as Error).message}`, 'cleanup-failed');
    });
    throw error;
  }
  const ended = await endBottle(target.deps, target.slug);
  if (ended.preserved) {
    reporter.info(`bottle ${target.slug} ended; its snapshot is kept: bot-bottle resume ${target.slug}`);
  }
  return {
    slug: target.slug,
    backend: target.deps.backend.name,
    container: target.bottle.name,
    exitCode,
    removedState: ended.removedState,
    preserved: ended.preserved,
  };
}
