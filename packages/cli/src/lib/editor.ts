import { spawn } from 'node:child_process';
import { basename } from 'node:path';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The 1-based line where the agent `name` is declared after the `agents`
 * key of a manifest (JSON, YAML or JS: the key may be quoted or bare), or
 * undefined when not found.
 */
export function findAgentLine(text: string, name: string): number | undefined {
  const lines = text.split('\n');
  const agentsAt = lines.findIndex((line) => /^\s*["']?agents["']?\s*:/.test(line));
  if (agentsAt === -1) return undefined;
  const key = new RegExp(`^\\s*(?:"${escapeRegExp(name)}"|'${escapeRegExp(name)}'|${escapeRegExp(name)})\\s*:`);
  for (let index = agentsAt; index < lines.length; index += 1) {
    if (key.test(lines[index] ?? '')) return index + 1;
  }
  return undefined;
}

/** The editor the person chose: $VISUAL, then $EDITOR, then vi. */
export function chooseEditor(env: Readonly<Record<string, string | undefined>> = process.env): string {
  for (const candidate of [env.VISUAL, env.EDITOR]) {
    if (candidate && candidate.trim().length > 0) return candidate.trim();
  }
  return 'vi';
}

const PLUS_LINE = new Set(['vi', 'vim', 'nvim', 'gvim', 'view', 'nano', 'pico', 'emacs', 'emacsclient', 'micro', 'kak', 'joe', 'mg', 'ne', 'jed', 'hx', 'helix']);
const GOTO_LINE = new Set(['code', 'code-insiders', 'codium', 'cursor', 'windsurf']);
const COLON_LINE = new Set(['subl', 'zed', 'mate']);

/** Arguments that open `file` at `line` for editors known to support it; just the file otherwise. */
export function editorArguments(editor: string, file: string, line: number | undefined): string[] {
  if (line === undefined) return [file];
  const program = basename(editor.split(/\s+/)[0] ?? editor);
  if (PLUS_LINE.has(program)) return [`+${line}`, file];
  if (GOTO_LINE.has(program)) return ['--goto', `${file}:${line}`];
  if (COLON_LINE.has(program)) return [`${file}:${line}`];
  return [file];
}

/**
 * Run the editor attached to the terminal. The editor string may carry
 * arguments (`code --wait`), so it runs through `sh -c`; the file is passed
 * as a positional parameter, never spliced into the shell text.
 */
export function runEditor(editor: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `${editor} "$@"`, 'bot-bottle-editor', ...args], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
