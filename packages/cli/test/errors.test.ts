import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { demoManifest, entries, makeSandbox, requireBuilt, run, writeManifest, type Sandbox } from './helpers.js';

let sandbox: Sandbox;

beforeAll(() => {
  requireBuilt();
  sandbox = makeSandbox();
});
afterAll(() => sandbox.cleanup());

/** One `error:` line, an optional `hint:` line, and no stack trace. */
function expectCleanError(stderr: string): void {
  const lines = stderr.trim().split('\n');
  expect(lines[0]).toMatch(/^error: /);
  expect(stderr).not.toMatch(/^\s+at /m);
}

describe('slug validation', () => {
  it.each([
    ['commit', '../escape'],
    ['resume', '../escape'],
    ['cleanup', '../escape'],
    ['exec', '../escape'],
    ['commit', 'a/b'],
    ['commit', '-rf'],
  ])('%s %s exits non-zero and creates nothing under the state root', (command, slug) => {
    // `--` keeps a slug like -rf from being read as a flag.
    const args = command === 'exec' ? [command, slug, '--', 'true'] : slug.startsWith('-') ? [command, '--', slug] : [command, slug];
    const result = run(sandbox, args);
    expect(result.status).toBe(2);
    expectCleanError(result.stderr);
    expect(result.stderr).toContain(`invalid slug ${JSON.stringify(slug)}`);
    expect(result.stderr).toMatch(/^hint: /m);
    expect(entries(sandbox.home)).toEqual([]);
    expect(entries(join(sandbox.home, 'state'))).toEqual([]);
  });

  it('shows the stack trace only with DEBUG', () => {
    const result = run(sandbox, ['commit', '../escape'], { env: { DEBUG: '1' } });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^error: invalid slug/);
    expect(result.stderr).toMatch(/^\s+at /m);
  });

  it('an unknown but valid slug is a clear error and writes nothing', () => {
    const result = run(sandbox, ['commit', 'nobody-12345']);
    expect(result.status).not.toBe(0);
    expectCleanError(result.stderr);
    expect(result.stderr).toContain('no bottle named nobody-12345');
    expect(entries(join(sandbox.home, 'state'))).toEqual([]);
  });
});

describe('manifest errors', () => {
  beforeEach(() => writeManifest(sandbox.project, demoManifest('docker')));

  it('unknown agent names the agent and the known ones', () => {
    for (const command of ['start', 'info', 'edit']) {
      const result = run(sandbox, [command, 'nope']);
      expect(result.status).toBe(2);
      expectCleanError(result.stderr);
      expect(result.stderr).toContain('no agent named "nope"');
      expect(result.stderr).toContain('known agents: demo');
      expect(result.stderr).toContain('hint: run `bot-bottle list agents`');
    }
  });

  it('a schema error names the file and the key path', () => {
    writeManifest(sandbox.project, {
      bottles: { box: { image: 'alpine:3', resources: { pids: 'many' } } },
      agents: { demo: { bottle: 'box', template: 'shell', command: 'x', colour: 'blue' } },
    });
    const result = run(sandbox, ['list', 'agents']);
    expect(result.status).not.toBe(0);
    expectCleanError(result.stderr);
    expect(result.stderr).toContain('bot-bottle.json: bottles.box.resources.pids:');
    expect(result.stderr).toContain('bot-bottle.json: agents.demo: unknown key "colour"');
    expect(result.stderr).toMatch(/^hint: /m);
  });

  it('invalid JSON names the file', () => {
    writeManifest(sandbox.project, '{"bottles": {');
    const result = run(sandbox, ['info', 'demo']);
    expect(result.status).not.toBe(0);
    expectCleanError(result.stderr);
    expect(result.stderr).toContain('bot-bottle.json: could not be parsed');
  });

  it('no manifest at all says how to create one', () => {
    const result = run(sandbox, ['list'], { cwd: sandbox.root });
    expect(result.status).not.toBe(0);
    expectCleanError(result.stderr);
    expect(result.stderr).toContain('bot-bottle init');
  });

  it('--json reports an expected error as JSON on stdout', () => {
    const result = run(sandbox, ['info', 'nope', '--json']);
    expect(result.status).toBe(2);
    const parsed = JSON.parse(result.stdout) as { error: { name: string; message: string; hint: string } };
    expect(parsed.error.name).toBe('UnknownAgentError');
    expect(parsed.error.message).toContain('no agent named "nope"');
  });
});

describe('missing backends', () => {
  it('a bottle on an uninstalled backend gives the install hint', () => {
    writeManifest(sandbox.project, demoManifest('nope'));
    const result = run(sandbox, ['start', 'demo']);
    expect(result.status).not.toBe(0);
    expectCleanError(result.stderr);
    expect(result.stderr).toContain('backend "nope" is not installed');
    expect(result.stderr).toMatch(/^hint: .*bot-bottle plugins install /m);
    expect(entries(join(sandbox.home, 'state'))).toEqual([]);
  });

  it('with no backend installed at all, names the package for this host', () => {
    writeManifest(sandbox.project, demoManifest('docker'));
    const result = run(sandbox, ['start', 'demo'], { production: true });
    expect(result.status).not.toBe(0);
    expectCleanError(result.stderr);
    expect(result.stderr).toContain('no bot-bottle backend is installed');
    expect(result.stderr).toContain('hint: install it: bot-bottle plugins install @bot-bottle/backend-docker');

    const backends = run(sandbox, ['backends', '--json'], { production: true });
    expect(backends.status).toBe(0);
    const parsed = JSON.parse(backends.stdout) as { backends: unknown[]; suggestion: string };
    expect(parsed.backends).toEqual([]);
    expect(parsed.suggestion).toMatch(/^bot-bottle plugins install @bot-bottle\/backend-(docker|macos-container|smolmachines)$/);
  });
});

describe('no terminal', () => {
  beforeEach(() => writeManifest(sandbox.project, demoManifest('docker')));

  it.each([
    ['commit', 'a SLUG', 'bot-bottle commit <SLUG>'],
    ['resume', 'a SLUG', 'bot-bottle resume <SLUG>'],
    ['start', 'an AGENT', 'bot-bottle start <AGENT>'],
    ['info', 'an AGENT', 'bot-bottle info <AGENT>'],
    ['edit', 'an AGENT', 'bot-bottle edit <AGENT>'],
  ])('%s without an argument asks for it', (command, missing, usage) => {
    const result = run(sandbox, [command]);
    expect(result.status).toBe(2);
    expectCleanError(result.stderr);
    expect(result.stderr).toContain(`error: ${missing} is required when bot-bottle is not run in a terminal`);
    expect(result.stderr).toContain(`hint: pass it: ${usage}`);
    expect(entries(join(sandbox.home, 'state'))).toEqual([]);
  });
});
