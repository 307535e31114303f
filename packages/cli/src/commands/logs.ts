import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { UsageError, assertValidSlug } from '@bot-bottle/core';
import { formatEntry, parseLog, type EgressLogEntry } from '@bot-bottle/egress-proxy/log';
import { BaseCommand } from '../base-command.js';

export const EGRESS_LOG = 'egress.log';

export interface EgressLogResult {
  readonly slug: string;
  readonly file: string;
  readonly entries: readonly EgressLogEntry[];
}

export default class Logs extends BaseCommand {
  static override summary = "Show a bottle's logs: with --egress, every decision its egress proxy made.";

  static override description = `With --egress, prints one line per connection or request the bottle's egress proxy allowed or refused, from \`state/SLUG/egress.log\`: time, decision, method, host and port, status, and the allow rule or the reason. Header values are never logged, only the names of injected headers.

The log is kept with the bottle's state, so it can be read after the bottle has stopped.`;

  static override examples = [
    { description: 'What a bottle reached, and what it was refused:', command: '<%= config.bin %> <%= command.id %> claude-x3k9q --egress' },
    { description: 'Only the refusals, as JSON:', command: "<%= config.bin %> <%= command.id %> claude-x3k9q --egress --json | jq '.entries[] | select(.decision == \"deny\")'" },
  ];

  static override args = {
    slug: Args.string({ description: 'Slug of the bottle.', required: true }),
  };

  static override flags = {
    egress: Flags.boolean({ summary: "Show the egress proxy's decisions.", default: false }),
  };

  static override enableJsonFlag = true;

  async run(): Promise<EgressLogResult> {
    const { args, flags } = await this.parse(Logs);
    const slug = assertValidSlug(args.slug);
    if (!flags.egress) {
      throw new UsageError('say which log to show', { hint: `run \`bot-bottle logs ${slug} --egress\`` });
    }
    await this.store.requireMetadata(slug);
    const file = join(this.store.dir(slug), EGRESS_LOG);
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const entries = parseLog(text);
    if (entries.length === 0) {
      this.note(`no egress decisions recorded for ${slug} (its bottle declares no egress policy, or nothing has gone out yet)`);
    }
    for (const entry of entries) this.log(formatEntry(entry));
    return { slug, file, entries };
  }
}
