import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { UnknownSlugError, UsageError, assertValidSlug } from '@bot-bottle/core';
import { BaseCommand } from '../base-command.js';
import { homedir } from 'node:os';
import { mapHostHome, startsWithHome } from '../lib/home-paths.js';
import { withSignals } from '../lib/signals.js';

/** bash when the image has it, else sh; both as login shells so the agent user's profile applies. */
const LOGIN_SHELL = ['sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi'];

export default class Exec extends BaseCommand {
  static override summary = 'Run a command inside a running bottle, attached to this terminal.';

  static override description = `Everything after \`--\` is the command, run as the agent user (or root with --root) in the bottle SLUG, attached to this terminal. bot-bottle exits with the command's exit code.

Without a command, opens a login shell (bash when the bottle has it, else sh).

Your shell expands \`~\` to your own home before bot-bottle sees it, so an argument that starts with your home directory is mapped onto the home of the user the command runs as inside the bottle: \`-- cat ~/work.txt\` reads the agent's ~/work.txt. Pass --no-map-home to send such paths unchanged.`;

  static override examples = [
    { description: 'Open a shell in a bottle:', command: '<%= config.bin %> <%= command.id %> claude-x3k9q' },
    { description: 'Run one command as root:', command: '<%= config.bin %> <%= command.id %> claude-x3k9q --root -- apt-get install -y ripgrep' },
    { description: "Read a file in the agent's home (~ is mapped onto the bottle's home):", command: '<%= config.bin %> <%= command.id %> claude-x3k9q -- cat ~/work.txt' },
    { description: 'Use the exit code in a script:', command: '<%= config.bin %> <%= command.id %> claude-x3k9q -- test -f /home/node/done' },
  ];

  static override args = {
    slug: Args.string({ description: 'Slug of a running bottle (`bot-bottle list active`).', required: true }),
  };

  static override flags = {
    root: Flags.boolean({ summary: 'Run as root instead of the agent user.', default: false }),
    workdir: Flags.string({ char: 'w', summary: 'Working directory inside the bottle.', helpValue: 'DIR' }),
    'map-home': Flags.boolean({
      summary: "Map arguments under your home directory onto the bottle user's home.",
      default: true,
      allowNo: true,
    }),
  };

  // The command after `--` is passed through untouched.
  static override strict = false;

  static override usage = '<%= command.id %> SLUG [--root] [-w DIR] [-- COMMAND [ARG...]]';

  async run(): Promise<void> {
    const { args, flags, argv } = await this.parse(Exec);
    const slug = assertValidSlug(args.slug);
    const separator = this.argv.indexOf('--');
    const extra = separator === -1 ? (argv as string[]).slice(1) : [];
    if (extra.length > 0) {
      throw new UsageError(`put the command after \`--\`: bot-bottle exec ${slug} -- ${extra.join(' ')}`, {
        hint: 'everything after `--` is passed to the bottle untouched',
      });
    }
    const command = separator === -1 || separator === this.argv.length - 1 ? LOGIN_SHELL : this.argv.slice(separator + 1);
    const metadata = await this.store.requireMetadata(slug);
    const backend = await this.registry().availableBackend(metadata.backend);
    const bottle = await backend.attach(slug);
    if (!bottle) {
      throw new UnknownSlugError(`bottle ${slug} is not running`, { hint: `start it again with \`bot-bottle resume ${slug}\`` });
    }
    const user = flags.root ? 'root' : 'agent';
    const hostHome = homedir();
    let bottleArgv = command;
    if (flags['map-home'] && command.some((arg) => startsWithHome(arg, hostHome))) {
      // One extra exec, only when an argument needs it: the bottle knows its user's home.
      const probe = await bottle.exec(['sh', '-c', 'printf %s "$HOME"'], { user });
      if (probe.exitCode === 0 && probe.stdout.startsWith('/')) bottleArgv = mapHostHome(command, hostHome, probe.stdout);
    }
    const exitCode = await withSignals('interactive', (signal) =>
      bottle.execInteractive(bottleArgv, {
        user,
        ...(flags.workdir ? { workdir: flags.workdir } : {}),
        signal,
      }),
    );
    process.exitCode = exitCode;
  }
}
