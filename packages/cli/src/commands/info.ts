import * as Args from '@oclif/core/args';
import { loadManifest, resolveAgent } from '@bot-bottle/core';
import { BaseCommand, manifestFlag } from '../base-command.js';
import { pickAgent } from '../lib/pickers.js';
import { keyValues } from '../ui/table.js';

export interface AgentInfo {
  readonly name: string;
  readonly manifest: string;
  readonly template: string;
  readonly command?: string | readonly string[];
  readonly bottle: string;
  readonly backend: string;
  readonly image?: string;
  readonly dockerfile?: string;
  /** Names only: values can be secrets. */
  readonly envKeys: readonly string[];
  readonly skills: readonly string[];
  readonly prompt: string;
  readonly copyCwd: boolean;
}

export default class Info extends BaseCommand {
  static override summary = "Show an agent's bottle, backend, environment keys, skills and prompt.";

  static override description = `Prints what \`bot-bottle start AGENT\` would run: the template and command, the bottle and the backend it runs on, the image or Dockerfile, the names of the environment variables passed in (never their values), the skills, and the prompt.

Without AGENT, a terminal shows a list of the manifest's agents.`;

  static override examples = [
    { description: 'Describe the agent "claude":', command: '<%= config.bin %> <%= command.id %> claude' },
    { description: 'As JSON:', command: '<%= config.bin %> <%= command.id %> claude --json' },
  ];

  static override args = {
    agent: Args.string({ description: 'Agent name from bot-bottle.json (omit to pick one).', required: false }),
  };

  static override flags = {
    manifest: manifestFlag,
  };

  static override enableJsonFlag = true;

  async run(): Promise<AgentInfo> {
    const { args, flags } = await this.parse(Info);
    const load = () => loadManifest(process.cwd(), flags.manifest ? { file: flags.manifest } : {});
    const name = args.agent ?? (await pickAgent('info', 'Select agent', load));
    const loaded = await load();
    const { agent, bottleName, bottle } = resolveAgent(loaded, name);
    const info: AgentInfo = {
      name,
      manifest: loaded.file,
      template: agent.template,
      ...(agent.command !== undefined ? { command: agent.command } : {}),
      bottle: bottleName,
      backend: bottle.backend,
      ...(bottle.image ? { image: bottle.image } : {}),
      ...(bottle.dockerfile ? { dockerfile: bottle.dockerfile } : {}),
      envKeys: Object.keys(agent.env).sort(),
      skills: agent.skills,
      prompt: agent.prompt,
      copyCwd: agent.copyCwd,
    };
    const command = info.command === undefined ? '(template default)' : Array.isArray(info.command) ? JSON.stringify(info.command) : String(info.command);
    this.log(
      keyValues([
        ['agent', info.name],
        ['manifest', info.manifest],
        ['template', info.template],
        ['command', command],
        ['bottle', info.bottle],
        ['backend', info.backend],
        ['from', info.image ? `image ${info.image}` : `dockerfile ${info.dockerfile ?? '?'}`],
        ['env', info.envKeys.length > 0 ? info.envKeys.join(', ') : '(none)'],
        ['skills', info.skills.length > 0 ? info.skills.join(', ') : '(none)'],
        ['copy cwd', info.copyCwd ? 'yes' : 'no'],
        ['prompt', info.prompt.length > 0 ? '' : '(none)'],
      ]),
    );
    if (info.prompt.length > 0) this.log(info.prompt.replace(/^/gm, '  '));
    return info;
  }
}
