import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import * as Flags from '@oclif/core/flags';
import { BotBottleError, UsageError, isValidAgentName, writeManifest } from '@bot-bottle/core';
import { BaseCommand } from '../base-command.js';
import { FIRST_PARTY_BACKENDS, suggestBackendPackage } from '../backends/suggest.js';
import { TEMPLATES, buildManifest, type InitAnswers, type Template } from '../lib/init.js';
import { ask } from '../ui/ask.js';
import { isInteractive, pick } from '../ui/pick.js';

const MANIFEST_FILE = 'bot-bottle.json';

function agentNameProblem(name: string): string | undefined {
  return isValidAgentName(name)
    ? undefined
    : 'use 1-42 characters of a-z, 0-9 and "-", starting and ending with a letter or digit';
}

export default class Init extends BaseCommand {
  static override summary = 'Create bot-bottle.json in this directory with one agent.';

  static override description = `Writes a manifest with one agent and one bottle (named after the agent). In a terminal it asks for whatever the flags leave out; in a script pass the flags (at least --image or --dockerfile).

The bottle runs on the backend given by --backend; by default the installed backend that fits this host (macos-container on Apple silicon, smolmachines where smolvm is installed, docker elsewhere).

An existing bot-bottle.json is never overwritten unless --force is given; use \`bot-bottle edit\` to change one.`;

  static override examples = [
    { description: 'Answer a few questions:', command: '<%= config.bin %> <%= command.id %>' },
    {
      description: 'A Claude Code agent on a local image, without questions:',
      command: '<%= config.bin %> <%= command.id %> --agent claude --template claude --image bot-bottle-claude:latest',
    },
    {
      description: 'A shell agent built from a Dockerfile, on docker:',
      command: '<%= config.bin %> <%= command.id %> --agent tests --template shell --command "npm test" --dockerfile ./Dockerfile --backend docker',
    },
  ];

  static override flags = {
    agent: Flags.string({ summary: 'Agent name (a-z, 0-9, "-"); the bottle gets the same name.', helpValue: 'NAME' }),
    template: Flags.string({ summary: 'What the agent runs.', options: TEMPLATES.map((template) => template.value) }),
    image: Flags.string({ summary: 'Local image the bottle runs.', helpValue: 'REF', exclusive: ['dockerfile'] }),
    dockerfile: Flags.string({ summary: 'Dockerfile to build the bottle from (relative to this directory).', helpValue: 'PATH', exclusive: ['image'] }),
    backend: Flags.string({ summary: 'Backend the bottle runs on (see `bot-bottle backends`).', helpValue: 'NAME' }),
    command: Flags.string({ summary: 'Command of a "shell" agent (runs through sh -c).', helpValue: 'CMD' }),
    force: Flags.boolean({ char: 'f', summary: 'Replace an existing bot-bottle.json.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Init);
    const cwd = process.cwd();
    const file = join(cwd, MANIFEST_FILE);
    if (existsSync(file) && !flags.force) {
      throw new BotBottleError(`${MANIFEST_FILE} already exists in ${cwd}`, {
        hint: 'change it with `bot-bottle edit <AGENT>`, or pass --force to replace it',
      });
    }
    const interactive = isInteractive();
    const answers = interactive ? await this.ask(flags, cwd) : this.fromFlags(flags, cwd);
    await writeManifest(file, buildManifest(answers));
    this.log(`created ${MANIFEST_FILE} with agent "${answers.agent}" (bottle on backend ${answers.backend})`);
    const installed = this.registry().compatible.some((backend) => backend.name === answers.backend);
    if (!installed) {
      const error = this.registry().missingBackendError(answers.backend);
      this.note(`note: ${error.message}`);
      if (error.hint) this.note(`hint: ${error.hint}`);
    }
    this.log(`next: bot-bottle start ${answers.agent}`);
  }

  /** The backend to use when none is given: the installed one that fits this host. */
  private defaultBackend(): string {
    const suggested = suggestBackendPackage();
    const suggestedName = Object.entries(FIRST_PARTY_BACKENDS).find(([, pkg]) => pkg === suggested)?.[0] ?? 'docker';
    const installed = this.registry().compatible.map((backend) => backend.name);
    if (installed.includes(suggestedName) || installed.length === 0) return suggestedName;
    return installed.length === 1 ? installed[0]! : suggestedName;
  }

  private source(flags: { image?: string; dockerfile?: string }, cwd: string): Pick<InitAnswers, 'image' | 'dockerfile'> {
    if (flags.image !== undefined) return { image: flags.image };
    if (flags.dockerfile !== undefined) {
      const path = isAbsolute(flags.dockerfile) ? relative(cwd, flags.dockerfile) : flags.dockerfile;
      if (!existsSync(join(cwd, path))) this.note(`note: ${path} does not exist yet; create it before \`bot-bottle start\``);
      return { dockerfile: path };
    }
    return {};
  }

  private fromFlags(
    flags: { agent?: string; template?: string; image?: string; dockerfile?: string; backend?: string; command?: string },
    cwd: string,
  ): InitAnswers {
    if (flags.image === undefined && flags.dockerfile === undefined) {
      throw new UsageError('init needs --image or --dockerfile when it is not run in a terminal', {
        hint: 'e.g. bot-bottle init --agent claude --template claude --image bot-bottle-claude:latest',
      });
    }
    const template = (flags.template ?? 'shell') as Template;
    const agent = flags.agent ?? template;
    const problem = agentNameProblem(agent);
    if (problem) throw new UsageError(`invalid agent name ${JSON.stringify(agent)}: ${problem}`);
    const command = flags.command ?? (template === 'shell' ? 'sh' : undefined);
    if (flags.command === undefined && template === 'shell') this.note('note: the shell agent runs `sh`; set --command to run something else');
    return {
      agent,
      template,
      backend: flags.backend ?? this.defaultBackend(),
      ...this.source(flags, cwd),
      ...(command !== undefined ? { command } : {}),
    };
  }

  private async ask(
    flags: { agent?: string; template?: string; image?: string; dockerfile?: string; backend?: string; command?: string },
    cwd: string,
  ): Promise<InitAnswers> {
    const template = (flags.template ??
      (await pick({
        message: 'What should the agent run?',
        missing: '--template',
        usage: 'bot-bottle init --template <shell|claude|codex>',
        listHint: 'shell, claude or codex',
        choices: async () => TEMPLATES.map((entry) => ({ value: entry.value, name: `${entry.value}  (${entry.description})` })),
        whenEmpty: () => new Error('no templates'),
      }))) as Template;
    const agent =
      flags.agent ??
      (await ask('Agent name', { default: template === 'shell' ? 'agent' : template, check: agentNameProblem }));
    const problem = agentNameProblem(agent);
    if (problem) throw new UsageError(`invalid agent name ${JSON.stringify(agent)}: ${problem}`);
    let command = flags.command;
    if (command === undefined && template === 'shell') {
      command = await ask('Command to run', { default: 'bash', check: (answer) => (answer ? undefined : 'a command is needed') });
    }
    let source = this.source(flags, cwd);
    if (source.image === undefined && source.dockerfile === undefined) {
      const answer = await ask('Image reference, or path to a Dockerfile', {
        check: (value) => (value ? undefined : 'an image (e.g. node:22) or a Dockerfile path is needed'),
      });
      const asPath = isAbsolute(answer) ? answer : join(cwd, answer);
      const isFile = existsSync(asPath) && statSync(asPath).isFile();
      source = isFile ? this.source({ dockerfile: answer }, cwd) : { image: answer };
    }
    let backend = flags.backend;
    if (backend === undefined) {
      const preferred = this.defaultBackend();
      // The backend that fits this host comes first, so Enter picks it.
      const installed = this.registry()
        .compatible.map((entry) => entry.name)
        .sort((a, b) => Number(b === preferred) - Number(a === preferred));
      backend =
        installed.length > 1
          ? await pick({
              message: 'Which backend should run the bottle?',
              missing: '--backend',
              usage: 'bot-bottle init --backend <NAME>',
              listHint: '`bot-bottle backends` lists them',
              choices: async () => installed.map((name) => ({ value: name, ...(name === preferred ? { name: `${name}  (fits this host)` } : {}) })),
              whenEmpty: () => new Error('no backends'),
            })
          : preferred;
    }
    return { agent, template, backend, ...source, ...(command !== undefined ? { command } : {}) };
  }
}
