import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { loadManifest, resolveAgent, startBottle } from '@bot-bottle/core';
import { BaseCommand, manifestFlag } from '../base-command.js';
import { pickAgent } from '../lib/pickers.js';
import { withSignals } from '../lib/signals.js';
import { runAttached, runDetached, type AttachedResult, type DetachedResult } from '../lib/run-session.js';

export default class Start extends BaseCommand {
  static override summary = 'Start an agent in a new bottle.';

  static override description = `Reads bot-bottle.json, builds (or reuses) the agent's bottle on the backend the bottle names, and runs the agent in it.

Attached (the default), the agent takes over this terminal; when it exits the bottle is removed, unless it was committed with \`bot-bottle commit\` (then its state is kept for \`bot-bottle resume\`).

With --detach the agent runs in the background and the bottle's slug is printed; use it with exec, commit, resume and cleanup.

Without AGENT, a terminal shows a list of the manifest's agents to choose from.`;

  static override examples = [
    { description: 'Start the agent "claude" attached to this terminal:', command: '<%= config.bin %> <%= command.id %> claude' },
    { description: 'Start it in the background and keep the slug:', command: 'slug=$(<%= config.bin %> <%= command.id %> claude --detach)' },
    { description: 'Machine-readable result for scripts:', command: '<%= config.bin %> <%= command.id %> claude --detach --json' },
    { description: 'Pick the agent from a list:', command: '<%= config.bin %> <%= command.id %>' },
  ];

  static override args = {
    agent: Args.string({ description: 'Agent name from bot-bottle.json (omit to pick one).', required: false }),
  };

  static override flags = {
    detach: Flags.boolean({ char: 'd', summary: 'Run the agent in the background and print the slug.', default: false }),
    manifest: manifestFlag,
  };

  static override enableJsonFlag = true;

  async run(): Promise<DetachedResult | AttachedResult> {
    const { args, flags } = await this.parse(Start);
    const cwd = process.cwd();
    const load = () => loadManifest(cwd, flags.manifest ? { file: flags.manifest } : {});
    const agentName = args.agent ?? (await pickAgent('start', 'Select agent to start', load));
    const loaded = await load();
    const resolved = resolveAgent(loaded, agentName);
    const backend = await this.registry().availableBackend(resolved.bottle.backend);
    const { store, reporter } = this.backendContext();
    const deps = { backend, store, reporter };
    const { slug, bottle } = await withSignals('abortable', (signal) => startBottle(deps, { loaded, agentName, cwd, signal }));
    const target = { slug, bottle, agent: resolved.agent, deps };
    if (flags.detach) {
      const result = await runDetached(target);
      this.log(slug);
      return result;
    }
    const result = await runAttached(target);
    // The agent's exit code becomes bot-bottle's.
    process.exitCode = result.exitCode;
    return result;
  }
}
