// The interactive paths (the filterable pickers and interactive `init`) on a
// real pseudo-terminal: util-linux `script` gives the built CLI a tty, and
// each keystroke is sent once the screen shows the prompt it answers, never
// on a timer.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RUN_JS, makeSandbox, requireBuilt, writeManifest, type Sandbox } from './helpers.js';

const ENTER = '\r';
const CTRL_C = '\x03';

interface Step {
  /** Shown on the screen (colours and cursor moves stripped) since the previous keystrokes. */
  readonly when: RegExp;
  readonly keys: string;
}

interface TerminalRun {
  readonly status: number | null;
  /** Everything the terminal showed, colours and cursor moves stripped. */
  readonly screen: string;
}

const shellQuote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`;

/** Run the production entry on a pseudo-terminal, answering each prompt in turn. */
function onTerminal(sandbox: Sandbox, args: readonly string[], steps: readonly Step[], timeoutMs = 30_000): Promise<TerminalRun> {
  const command = [process.execPath, RUN_JS, ...args].map(shellQuote).join(' ');
  // -q: no "Script started" banner; -e: exit with the command's status; -c: run it.
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    cwd: sandbox.project,
    env: { ...sandbox.env, TERM: 'xterm-256color' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let raw = '';
  let answeredUpTo = 0;
  let next = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    raw += chunk.toString('utf8');
    while (next < steps.length && steps[next]!.when.test(stripVTControlCharacters(raw.slice(answeredUpTo)))) {
      child.stdin.write(steps[next]!.keys);
      answeredUpTo = raw.length;
      next += 1;
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    raw += chunk.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no answer to step ${next + 1} (${String(steps[next]?.when)}) within ${timeoutMs} ms; the screen:\n${stripVTControlCharacters(raw)}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`could not run util-linux \`script\` for a pseudo-terminal: ${error.message}`));
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      child.stdin.destroy();
      if (next < steps.length) {
        reject(new Error(`exited (${status}) before step ${next + 1} (${String(steps[next]?.when)}); the screen:\n${stripVTControlCharacters(raw)}`));
        return;
      }
      resolve({ status, screen: stripVTControlCharacters(raw) });
    });
  });
}

let sandbox: Sandbox;
beforeAll(() => requireBuilt());
beforeEach(() => {
  sandbox = makeSandbox({ production: true });
});
afterEach(() => sandbox.cleanup());

describe('pickers on a terminal', () => {
  beforeEach(() => {
    writeManifest(sandbox.project, {
      bottles: { dev: { backend: 'docker', image: 'node:22' } },
      agents: {
        claude: { bottle: 'dev', template: 'claude' },
        tests: { bottle: 'dev', template: 'shell', command: 'npm test' },
      },
    });
  });

  it('info without AGENT: typing narrows the list and Enter picks', async () => {
    const result = await onTerminal(sandbox, ['info'], [
      { when: /Select agent/, keys: 'tes' },
      // Enter once the narrowed list has `tests` under the cursor.
      { when: /❯ tests {2}\(shell, bottle dev\)/, keys: ENTER },
    ]);
    expect(result.status, result.screen).toBe(0);
    expect(result.screen).toMatch(/agent {5}tests/);
    expect(result.screen).toMatch(/command {3}npm test/);
    expect(result.screen).not.toMatch(/agent {5}claude/);
  });

  it('Ctrl-C in a picker cancels quietly with exit 0', async () => {
    const result = await onTerminal(sandbox, ['info'], [{ when: /Select agent/, keys: CTRL_C }]);
    expect(result.status, result.screen).toBe(0);
    expect(result.screen).toContain('cancelled');
    expect(result.screen).not.toMatch(/error:/);
  });
});

describe('interactive init', () => {
  it('asks for each missing answer and writes a manifest that loads', async () => {
    const result = await onTerminal(sandbox, ['init'], [
      { when: /What should the agent run\?/, keys: 'shell' },
      { when: /❯ shell {2}\(/, keys: ENTER },
      { when: /Agent name \(agent\): $/, keys: `reviewer${ENTER}` },
      { when: /Command to run \(bash\): $/, keys: `npm test${ENTER}` },
      { when: /Image reference, or path to a Dockerfile: $/, keys: `node:22${ENTER}` },
    ]);
    expect(result.status, result.screen).toBe(0);
    const manifest = JSON.parse(readFileSync(join(sandbox.project, 'bot-bottle.json'), 'utf8')) as {
      bottles: Record<string, { image?: string }>;
      agents: Record<string, { bottle: string; template: string; command?: unknown }>;
    };
    expect(manifest.agents.reviewer).toMatchObject({ template: 'shell', command: 'npm test' });
    const bottle = manifest.bottles[manifest.agents.reviewer!.bottle];
    expect(bottle).toMatchObject({ image: 'node:22' });
  });

  it('an empty required answer is asked again, not accepted', async () => {
    const result = await onTerminal(sandbox, ['init', '--template', 'shell', '--agent', 'builder', '--command', 'make'], [
      { when: /Image reference, or path to a Dockerfile: $/, keys: ENTER },
      { when: /an image \(e\.g\. node:22\) or a Dockerfile path is needed[\s\S]*Image reference, or path to a Dockerfile: $/, keys: `node:22${ENTER}` },
    ]);
    expect(result.status, result.screen).toBe(0);
    expect(existsSync(join(sandbox.project, 'bot-bottle.json'))).toBe(true);
  });

  it('Ctrl-C at a question cancels and writes nothing', async () => {
    const result = await onTerminal(sandbox, ['init', '--template', 'shell'], [{ when: /Agent name \(agent\): $/, keys: CTRL_C }]);
    expect(result.status, result.screen).toBe(0);
    expect(result.screen).toContain('cancelled');
    expect(existsSync(join(sandbox.project, 'bot-bottle.json'))).toBe(false);
  });
});
