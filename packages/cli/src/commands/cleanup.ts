import * as Args from '@oclif/core/args';
import { BotBottleError, UnknownSlugError, assertValidSlug, endBottle, type BottleBackend } from '@bot-bottle/core';
import { BaseCommand } from '../base-command.js';

export interface EndedBottle {
  readonly slug: string;
  readonly backend: string;
  readonly removedState: boolean;
  readonly preserved: boolean;
}

export interface CleanupResult {
  readonly ended: EndedBottle[];
  /** Slugs whose leftover state (no running bottle, not committed) was removed. */
  readonly removedStale: string[];
  /** Slugs whose state is kept because they were committed. */
  readonly kept: string[];
  readonly skippedBackends: { readonly name: string; readonly reason: string }[];
  readonly failed: { readonly slug: string; readonly error: string }[];
}

export default class Cleanup extends BaseCommand {
  static override summary = 'End bottles and remove their runtime objects and leftover state.';

  static override description = `With SLUG: ends that bottle (its container or VM and networks are removed; its state is removed too unless it was committed).

Without SLUG: ends every running bottle on every installed, available backend, then removes leftover state of bottles that no longer run and were never committed. Committed bottles keep their state so \`bot-bottle resume\` still works; backends that cannot run here are skipped and their bottles' state is left alone.`;

  static override examples = [
    { description: 'End one bottle:', command: '<%= config.bin %> <%= command.id %> claude-x3k9q' },
    { description: 'End everything bot-bottle started:', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Report what was done as JSON:', command: '<%= config.bin %> <%= command.id %> --json' },
  ];

  static override args = {
    slug: Args.string({ description: 'Slug of the bottle to end (omit to clean up everything).', required: false }),
  };

  static override enableJsonFlag = true;

  async run(): Promise<CleanupResult> {
    const { args } = await this.parse(Cleanup);
    const result: CleanupResult =
      args.slug === undefined ? await this.all() : await this.one(assertValidSlug(args.slug));
    for (const entry of result.ended) {
      this.note(`ended ${entry.slug} (${entry.backend})${entry.preserved ? '; committed state kept' : ''}`);
    }
    for (const slug of result.removedStale) this.note(`removed leftover state of ${slug}`);
    if (result.skippedBackends.length > 0) {
      const names = result.skippedBackends.map((entry) => entry.name).join(', ');
      this.note(`skipped backends not usable here: ${names} (\`bot-bottle backends\` says why); their bottles' state was left alone`);
    }
    for (const entry of result.failed) this.note(`failed to end ${entry.slug}: ${entry.error}`);
    if (result.ended.length === 0 && result.removedStale.length === 0 && result.failed.length === 0) {
      this.note('nothing to clean up');
    }
    if (result.failed.length > 0) {
      if (this.jsonEnabled()) process.exitCode = 1;
      else throw new BotBottleError(`${result.failed.length} bottle(s) could not be ended`, { hint: 'run again with DEBUG=1 for details' });
    }
    return result;
  }

  private async end(backend: BottleBackend, slug: string): Promise<EndedBottle> {
    const { store, reporter } = this.backendContext();
    const ended = await endBottle({ backend, store, reporter }, slug);
    return { slug, backend: backend.name, removedState: ended.removedState, preserved: ended.preserved };
  }

  private async one(slug: string): Promise<CleanupResult> {
    const endedOnly = (ended: EndedBottle): CleanupResult => ({
      ended: [ended],
      removedStale: [],
      kept: [],
      skippedBackends: [],
      failed: [],
    });
    const metadata = await this.store.readMetadata(slug);
    if (metadata) {
      const backend = await this.registry().availableBackend(metadata.backend);
      return endedOnly(await this.end(backend, slug));
    }
    // No state: the bottle may still run on some backend.
    const { usable } = await this.registry().usable();
    for (const { backend } of usable) {
      const active = await backend.listActive();
      if (active.some((bottle) => bottle.slug === slug)) return endedOnly(await this.end(backend, slug));
    }
    throw new UnknownSlugError(`no bottle named ${slug}`, { hint: 'run `bot-bottle list active` to see running bottles' });
  }

  private async all(): Promise<CleanupResult> {
    const registry = this.registry();
    if (registry.compatible.length === 0) {
      const error = registry.noBackendsError();
      this.note(`${error.message}; no bottle can be running`);
      if (error.hint) this.note(`hint: ${error.hint}`);
    }
    const { usable, skipped } = await registry.usable();
    const result: CleanupResult = {
      ended: [],
      removedStale: [],
      kept: [],
      skippedBackends: skipped.map((entry) => ({ name: entry.name, reason: entry.reason })),
      failed: [],
    };
    const running = new Set<string>();
    for (const { backend } of usable) {
      for (const bottle of await backend.listActive()) {
        running.add(bottle.slug);
        try {
          result.ended.push(await this.end(backend, bottle.slug));
        } catch (error) {
          result.failed.push({ slug: bottle.slug, error: (error as Error).message });
        }
      }
    }
    const checked = new Set(usable.map((entry) => entry.backend.name));
    for (const slug of await this.store.listSlugs()) {
      if (running.has(slug)) continue;
      const metadata = await this.store.readMetadata(slug).catch(() => undefined);
      // Only state of backends we could ask is known to be stale.
      if (metadata && !checked.has(metadata.backend)) continue;
      if (await this.store.isPreserved(slug)) {
        result.kept.push(slug);
        continue;
      }
      if (metadata && (await this.store.removeState(slug))) result.removedStale.push(slug);
    }
    return result;
  }
}
