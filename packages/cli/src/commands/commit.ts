import * as Args from '@oclif/core/args';
import { CommitCancelled, assertValidSlug, type CommitResult } from '@bot-bottle/core';
import { BaseCommand } from '../base-command.js';
import { pickActiveSlug } from '../lib/pickers.js';
import { withSignals } from '../lib/signals.js';

export default class Commit extends BaseCommand {
  static override summary = 'Snapshot a running bottle so it can be resumed later.';

  static override description = `Takes a snapshot of the bottle SLUG while it keeps running: a local image on docker and macos-container, a .smolmachine artifact on smolmachines. The snapshot is recorded in the bottle's state and the state is kept, so the next \`bot-bottle resume SLUG\` boots from it, with everything the agent installed or wrote.

Ctrl-C stops a commit cleanly; the previous snapshot, if any, stays in force. Without SLUG, a terminal shows the running bottles.`;

  static override examples = [
    { description: 'Snapshot a running bottle:', command: '<%= config.bin %> <%= command.id %> claude-x3k9q' },
    { description: 'Pick the bottle from a list:', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Machine-readable result (snapshot reference, resume hint):', command: '<%= config.bin %> <%= command.id %> claude-x3k9q --json' },
  ];

  static override args = {
    slug: Args.string({ description: 'Slug of a running bottle (omit to pick one).', required: false }),
  };

  static override enableJsonFlag = true;

  async run(): Promise<CommitResult | { slug: string; cancelled: true }> {
    const { args } = await this.parse(Commit);
    // Validate before anything reads or writes state.
    if (args.slug !== undefined) assertValidSlug(args.slug);
    const slug =
      args.slug ??
      (await pickActiveSlug('commit', 'Select bottle to commit', () => this.registry(), () => this.store));
    const metadata = await this.store.requireMetadata(slug);
    await this.registry().availableBackend(metadata.backend);
    const freezer = await this.registry().freezer(metadata.backend);
    try {
      return await withSignals('abortable', (signal) => freezer.commit(slug, { signal }));
    } catch (error) {
      if (error instanceof CommitCancelled) {
        this.note(error.message);
        return { slug, cancelled: true };
      }
      throw error;
    }
  }
}
