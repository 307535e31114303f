import * as Args from '@oclif/core/args';
import { listBottles, loadManifest } from '@bot-bottle/core';
import { BaseCommand, manifestFlag } from '../base-command.js';
import { table } from '../ui/table.js';

export interface AgentRow {
  readonly name: string;
  readonly template: string;
  readonly bottle: string;
  readonly backend: string;
  readonly image?: string;
  readonly dockerfile?: string;
}

export interface ActiveRow {
  readonly slug: string;
  readonly agent: string;
  readonly backend: string;
  readonly container: string;
  readonly startedAt?: string;
}

export default class List extends BaseCommand {
  static override summary = 'List the agents in bot-bottle.json, or the bottles running now.';

  static override description = `\`list agents\` (the default) reads the manifest (bot-bottle.json in this directory or a parent) and shows each agent with its template, bottle and backend. It needs no backend.

\`list active\` asks every installed, available backend which bottles are running and shows their slugs; backends that cannot run here are skipped with a note on stderr.`;

  static override examples = [
    { description: 'The agents you can start:', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Running bottles and their slugs:', command: '<%= config.bin %> <%= command.id %> active' },
    { description: 'As JSON, for scripts:', command: '<%= config.bin %> <%= command.id %> active --json' },
  ];

  static override args = {
    what: Args.string({
      description: 'What to list.',
      options: ['agents', 'active'],
      default: 'agents',
      required: false,
    }),
  };

  static override flags = {
    manifest: manifestFlag,
  };

  static override enableJsonFlag = true;

  async run(): Promise<AgentRow[] | ActiveRow[]> {
    const { args, flags } = await this.parse(List);
    return args.what === 'active' ? this.active() : this.agents(flags.manifest);
  }

  private async agents(file: string | undefined): Promise<AgentRow[]> {
    const loaded = await loadManifest(process.cwd(), file ? { file } : {});
    const rows: AgentRow[] = Object.entries(loaded.manifest.agents).map(([name, agent]) => {
      const bottle = loaded.manifest.bottles[agent.bottle];
      return {
        name,
        template: agent.template,
        bottle: agent.bottle,
        backend: bottle?.backend ?? '?',
        ...(bottle?.image ? { image: bottle.image } : {}),
        ...(bottle?.dockerfile ? { dockerfile: bottle.dockerfile } : {}),
      };
    });
    if (rows.length === 0) {
      this.note(`${loaded.file} defines no agents`);
    } else {
      this.log(
        table(
          ['AGENT', 'TEMPLATE', 'BOTTLE', 'BACKEND', 'FROM'],
          rows.map((row) => [row.name, row.template, row.bottle, row.backend, row.image ?? `dockerfile ${row.dockerfile ?? '?'}`]),
        ),
      );
    }
    return rows;
  }

  private async active(): Promise<ActiveRow[]> {
    const registry = this.registry();
    if (registry.compatible.length === 0) {
      const error = registry.noBackendsError();
      this.note(`${error.message}; nothing can be running`);
      if (error.hint) this.note(`hint: ${error.hint}`);
      return [];
    }
    const { usable, skipped } = await registry.usable();
    if (skipped.length > 0) {
      this.note(`skipped backends not usable here: ${skipped.map((entry) => entry.name).join(', ')} (\`bot-bottle backends\` says why)`);
    }
    const active = await listBottles(
      usable.map((entry) => entry.backend),
      this.store,
    );
    const rows: ActiveRow[] = active.map((bottle) => ({
      slug: bottle.slug,
      agent: bottle.agentName,
      backend: bottle.backend,
      container: bottle.runtimeName,
      ...(bottle.startedAt ? { startedAt: bottle.startedAt } : {}),
    }));
    if (rows.length === 0) {
      this.note('no bottle is running');
    } else {
      this.log(
        table(
          ['SLUG', 'AGENT', 'BACKEND', 'STARTED'],
          rows.map((row) => [row.slug, row.agent, row.backend, row.startedAt ?? '']),
        ),
      );
    }
    return rows;
  }
}
