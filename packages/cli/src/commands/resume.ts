import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { assertValidSlug, loadManifest, resumeBottle } from '@bot-bottle/core';
import { BaseCommand, manifestFlag } from '../base-command.js';
import { pickStateSlug } from '../lib/pickers.js';
import { withSignals } from '../lib/signals.js';
import { runAttached, runDetached, type AttachedResult, type DetachedResult } from '../lib/run-session.js';

export default class Resume extends BaseCommand {
  static override summary = 'Resume a bottle, from its committed snapshot when there is one.';

  static override description = `Starts the bottle SLUG again on the backend it ran on. When \`bot-bottle commit\` recorded a snapshot and it still exists, the bottle boots from it with everything the agent had installed or written; when the snapshot is gone, the bottle is built afresh (with a warning).

The agent definition is re-read from the manifest the bottle was started from; --manifest points at another one.

Attached by default, like \`start\`; --detach runs it in the background. Without SLUG, a terminal shows the bottles that have saved state.`;

  static override examples = [
    { description: 'Resume a committed bottle in this terminal:', command: '<%= config.bin %> <%= command.id %> claude-x3k9q' },
    { description: 'Resume it in the background:', command: '<%= config.bin %> <%= command.id %> claude-x3k9q --detach --json' },
    { description: 'Pick the bottle from a list:', command: '<%= config.bin %> <%= command.id %>' },
  ];

  static override args = {
    slug: Args.string({ description: 'Slug of the bottle (omit to pick one).', required: false }),
  };

  static override flags = {
    detach: Flags.boolean({ char: 'd', summary: 'Run the agent in the background and print the slug.', default: false }),
    manifest: manifestFlag,
  };

  static override enableJsonFlag = true;

  async run(): Promise<DetachedResult | AttachedResult> {
    const { args, flags } = await this.parse(Resume);
    if (args.slug !== undefined) assertValidSlug(args.slug);
    const slug = args.slug ?? (await pickStateSlug('resume', 'Select bottle to resume', () => this.store));
    const metadata = await this.store.requireMetadata(slug);
    const backend = await this.registry().availableBackend(metadata.backend);
    const { store, reporter } = this.backendContext();
    const deps = { backend, store, reporter };
    const loaded = flags.manifest ? await loadManifest(process.cwd(), { file: flags.manifest }) : undefined;
    const resumed = await withSignals('abortable', (signal) =>
      resumeBottle(deps, loaded ? { slug, loaded, signal } : { slug, signal }),
    );
    const target = { slug: resumed.slug, bottle: resumed.bottle, agent: resumed.plan.spec.agent, deps };
    if (flags.detach) {
      const result = await runDetached(target);
      this.log(resumed.slug);
      return result;
    }
    const result = await runAttached(target);
    // The agent's exit code becomes bot-bottle's.
    process.exitCode = result.exitCode;
    return result;
  }
}
