import { readFile } from 'node:fs/promises';
import * as Args from '@oclif/core/args';
import { BotBottleError, ManifestError, loadManifest, resolveAgent } from '@bot-bottle/core';
import { BaseCommand, manifestFlag } from '../base-command.js';
import { chooseEditor, editorArguments, findAgentLine, runEditor } from '../lib/editor.js';
import { pickAgent } from '../lib/pickers.js';

export default class Edit extends BaseCommand {
  static override summary = "Open the manifest in your editor at an agent's definition, then check it.";

  static override description = `Opens the manifest (bot-bottle.json) in $VISUAL, else $EDITOR, else vi, at the line where AGENT is defined (for editors that take a line number: vi, vim, nvim, nano, emacs, micro, helix, VS Code, Sublime, Zed...).

When the editor exits, the manifest is validated again and any error is reported with the file and the key path, so a typo is caught before the next \`start\`.`;

  static override examples = [
    { description: 'Edit the agent "claude":', command: '<%= config.bin %> <%= command.id %> claude' },
    { description: 'With another editor:', command: 'EDITOR="code --wait" <%= config.bin %> <%= command.id %> claude' },
  ];

  static override args = {
    agent: Args.string({ description: 'Agent name from bot-bottle.json (omit to pick one).', required: false }),
  };

  static override flags = {
    manifest: manifestFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Edit);
    const load = () => loadManifest(process.cwd(), flags.manifest ? { file: flags.manifest } : {});
    const name = args.agent ?? (await pickAgent('edit', 'Select agent to edit', load));
    const loaded = await load();
    resolveAgent(loaded, name);
    const text = await readFile(loaded.file, 'utf8');
    const editor = chooseEditor();
    const code = await runEditor(editor, editorArguments(editor, loaded.file, findAgentLine(text, name)));
    if (code !== 0) {
      throw new BotBottleError(`the editor (${editor}) exited with status ${code}`, {
        hint: 'set $VISUAL or $EDITOR to the editor you use',
      });
    }
    let reloaded;
    try {
      reloaded = await loadManifest(process.cwd(), { file: loaded.file });
    } catch (error) {
      if (error instanceof ManifestError) {
        throw new ManifestError(`${error.message}`, {
          file: error.file ?? loaded.file,
          hint: `fix it with \`bot-bottle edit ${name}\`${error.hint ? `; ${error.hint}` : ''}`,
        });
      }
      throw error;
    }
    if (!(name in reloaded.manifest.agents)) {
      this.note(`${loaded.file} is valid; agent "${name}" is no longer in it (agents: ${Object.keys(reloaded.manifest.agents).join(', ') || 'none'})`);
      return;
    }
    this.note(`${loaded.file} is valid`);
  }
}
