import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { demoManifest, linkFixture, makeSandbox, requireBuilt, run, writeManifest, type Sandbox } from './helpers.js';

let sandbox: Sandbox;

beforeAll(() => {
  requireBuilt();
  // Production entry: only the fixtures load, so nothing here can touch real bottles.
  sandbox = makeSandbox({ production: true });
  linkFixture(sandbox, 'backend-fake');
}, 60_000);
afterAll(() => sandbox.cleanup());

describe('init', () => {
  const file = () => join(sandbox.project, 'bot-bottle.json');

  it('writes a manifest from flags that list agents can read', () => {
    const result = run(sandbox, ['init', '--agent', 'tests', '--template', 'shell', '--command', 'npm test', '--image', 'node:22', '--backend', 'fake', '--force']);
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(readFileSync(file(), 'utf8'))).toEqual({
      bottles: { tests: { backend: 'fake', image: 'node:22' } },
      agents: { tests: { bottle: 'tests', template: 'shell', command: 'npm test' } },
    });
    const listed = JSON.parse(run(sandbox, ['list', '--json']).stdout) as { name: string; backend: string }[];
    expect(listed).toEqual([expect.objectContaining({ name: 'tests', backend: 'fake', template: 'shell' })]);
  });

  it('refuses to overwrite an existing manifest without --force', () => {
    writeManifest(sandbox.project, demoManifest('fake'));
    const before = readFileSync(file(), 'utf8');
    const result = run(sandbox, ['init', '--agent', 'other', '--image', 'x']);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('error: bot-bottle.json already exists');
    expect(result.stderr).toContain('--force');
    expect(readFileSync(file(), 'utf8')).toBe(before);
  });

  it('without a terminal it needs --image or --dockerfile', () => {
    const result = run(sandbox, ['init', '--force', '--agent', 'x']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('error: init needs --image or --dockerfile');
  });

  it('rejects a bad agent name and conflicting flags', () => {
    expect(run(sandbox, ['init', '--force', '--agent', 'Bad_Name', '--image', 'x']).stderr).toContain('invalid agent name');
    const both = run(sandbox, ['init', '--force', '--image', 'x', '--dockerfile', 'Dockerfile']);
    expect(both.status).not.toBe(0);
    expect(both.stderr).toMatch(/cannot also be provided/);
  });
});

describe('info and list', () => {
  beforeEach(() => writeManifest(sandbox.project, demoManifest('fake')));

  it('info shows env keys but never their values', () => {
    const text = run(sandbox, ['info', 'demo']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^env\s+TOKEN$/m);
    expect(text.stdout).toMatch(/^skills\s+review$/m);
    expect(text.stdout).not.toContain('secret-value');
    const json = JSON.parse(run(sandbox, ['info', 'demo', '--json']).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ name: 'demo', bottle: 'box', backend: 'fake', envKeys: ['TOKEN'], skills: ['review'], template: 'shell' });
    expect(JSON.stringify(json)).not.toContain('secret-value');
  });

  it('list agents prints a table, and --json an array', () => {
    const text = run(sandbox, ['list', 'agents']);
    expect(text.stdout).toMatch(/^AGENT\s+TEMPLATE\s+BOTTLE\s+BACKEND\s+FROM$/m);
    expect(text.stdout).toMatch(/^demo\s+shell\s+box\s+fake\s+alpine:3$/m);
  });

  it('--manifest points at another file', () => {
    writeManifest(sandbox.root, demoManifest('elsewhere'), 'other.json');
    const result = run(sandbox, ['list', '--json', '--manifest', join(sandbox.root, 'other.json')]);
    expect(JSON.parse(result.stdout)).toEqual([expect.objectContaining({ name: 'demo', backend: 'elsewhere' })]);
  });
});

describe('edit', () => {
  /** A fake editor: a shell script called `name` (its name decides how the line number is passed). */
  const editor = (name: string, body: string): string => {
    const dir = join(sandbox.root, `editor-${Math.random().toString(36).slice(2)}`);
    const path = join(dir, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };

  beforeEach(() => writeManifest(sandbox.project, demoManifest('fake')));

  it('opens the manifest at the agent line and reports it valid', () => {
    const argsFile = join(sandbox.root, 'editor-args');
    const vim = editor('vim', `printf '%s\\n' "$@" > '${argsFile}'`);
    const result = run(sandbox, ['edit', 'demo'], { env: { EDITOR: vim } });
    expect(result.status, result.stderr).toBe(0);
    const args = readFileSync(argsFile, 'utf8').trim().split('\n');
    const text = readFileSync(join(sandbox.project, 'bot-bottle.json'), 'utf8').split('\n');
    const line = Number(args[0]?.slice(1));
    expect(args[0]).toMatch(/^\+\d+$/);
    expect(text[line - 1]).toMatch(/^\s*"demo": \{/);
    expect(args[1]).toBe(join(sandbox.project, 'bot-bottle.json'));
    expect(result.stderr).toContain('is valid');
  });

  it('re-validates after the editor and names the file and key path', () => {
    const breaker = editor('breaker', `sed -i 's/"template": "shell"/"template": "cobol"/' "$1"`);
    const result = run(sandbox, ['edit', 'demo'], { env: { VISUAL: breaker } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('error: bot-bottle.json: agents.demo.template:');
    expect(result.stderr).toContain('hint: fix it with `bot-bottle edit demo`');
    expect(existsSync(join(sandbox.project, 'bot-bottle.json'))).toBe(true);
  });

  it('an editor that fails is reported', () => {
    const result = run(sandbox, ['edit', 'demo'], { env: { EDITOR: editor('bad', 'exit 4') } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('exited with status 4');
  });
});

describe('logs --egress', () => {
  const slug = 'demo-logs1';
  const stateDir = () => join(sandbox.home, 'state', slug);
  const entry = (decision: string, host: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ time: '2025-01-02T03:04:05.000Z', decision, method: 'CONNECT', host, port: 443, via: 'tunnel', slug, ...extra });

  beforeEach(() => {
    mkdirSync(stateDir(), { recursive: true });
    writeFileSync(
      join(stateDir(), 'metadata.json'),
      JSON.stringify({ identity: slug, agent: 'demo', backend: 'fake', cwd: sandbox.project, startedAt: '2025-01-02T03:04:05.000Z' }),
    );
  });

  it('prints one line per decision, and --json the entries', () => {
    writeFileSync(
      join(stateDir(), 'egress.log'),
      `${entry('allow', 'api.github.com', { rule: 'api.github.com', status: 200 })}\n${entry('deny', 'evil.example', { status: 403, reason: 'not in the allow list' })}\n{torn`,
    );
    const text = run(sandbox, ['logs', slug, '--egress']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout.trim().split('\n')).toEqual([
      '2025-01-02T03:04:05.000Z ALLOW CONNECT api.github.com:443  (200; rule api.github.com)',
      '2025-01-02T03:04:05.000Z DENY  CONNECT evil.example:443  (403; not in the allow list)',
    ]);
    const json = JSON.parse(run(sandbox, ['logs', slug, '--egress', '--json']).stdout) as { entries: Array<{ decision: string; host: string }> };
    expect(json.entries.map((e) => [e.decision, e.host])).toEqual([
      ['allow', 'api.github.com'],
      ['deny', 'evil.example'],
    ]);
  });

  it('says when nothing was recorded, and refuses unknown slugs and a missing --egress', () => {
    rmSync(join(stateDir(), 'egress.log'), { force: true });
    const empty = run(sandbox, ['logs', slug, '--egress']);
    expect(empty.status).toBe(0);
    expect(empty.stderr).toContain('no egress decisions recorded');
    expect(run(sandbox, ['logs', 'nobody-00000', '--egress']).status).not.toBe(0);
    const noFlag = run(sandbox, ['logs', slug]);
    expect(noFlag.status).toBe(2);
    expect(noFlag.stderr).toContain('--egress');
  });
});
