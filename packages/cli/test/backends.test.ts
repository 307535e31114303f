import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, demoManifest, entries, linkFixture, makeSandbox, requireBuilt, run, writeManifest, type Sandbox } from './helpers.js';

interface BackendReport {
  name: string;
  package: string;
  version: string;
  source: string;
  contract: string;
  compatible: boolean;
  available: boolean;
  reason?: string;
  fix?: string;
}

let sandbox: Sandbox;

beforeAll(() => {
  requireBuilt();
  // Production entry: only the fixtures load, so nothing here can touch real bottles.
  sandbox = makeSandbox({ production: true });
  // Installed the way a user would: `bot-bottle plugins link DIR --no-install`.
  linkFixture(sandbox, 'backend-fake');
  linkFixture(sandbox, 'backend-future');
}, 60_000);
afterAll(() => sandbox.cleanup());

describe('backends', () => {
  it('--json is valid JSON describing each installed backend', () => {
    const result = run(sandbox, ['backends', '--json']);
    expect(result.status, result.stderr).toBe(0);
    const parsed = JSON.parse(result.stdout) as { contractVersion: string; backends: BackendReport[] };
    expect(parsed.contractVersion).toBe('1.0.0');
    const fake = parsed.backends.find((backend) => backend.name === 'fake');
    expect(fake).toMatchObject({
      package: 'bot-bottle-backend-fake',
      version: '1.2.3',
      source: 'link',
      contract: '^1.0.0',
      compatible: true,
      available: true,
    });
    const future = parsed.backends.find((backend) => backend.name === 'future');
    expect(future).toMatchObject({ package: 'bot-bottle-backend-future', contract: '^2.0.0', compatible: false, available: false });
    // Refused from package.json alone: importing its module would have thrown a different error.
    expect(future?.reason).toContain('^2.0.0');
    expect(future?.reason).toContain('1.0.0');
    expect(future?.fix).toBeTruthy();
    // Only the sandbox's plugins: the production entry loads no workspace backends.
    expect(parsed.backends.map((backend) => backend.name)).toEqual(['fake', 'future']);
  });

  it('the text listing says compatible/available and why not', () => {
    const result = run(sandbox, ['backends']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^fake\s+bot-bottle-backend-fake\s+1\.2\.3\s+\^1\.0\.0\s+yes\s+yes$/m);
    expect(result.stdout).toMatch(/^future\s+bot-bottle-backend-future\s+2\.0\.0\s+\^2\.0\.0\s+no\s+no$/m);
    expect(result.stdout).toContain('implements contract ^2.0.0, but this bot-bottle speaks contract 1.0.0');
  });

  it('reports an unavailable backend with its reason and fix', () => {
    const result = run(sandbox, ['backends', '--json'], { env: { FAKE_BACKEND_UNAVAILABLE: '1' } });
    const parsed = JSON.parse(result.stdout) as { backends: BackendReport[] };
    expect(parsed.backends.find((backend) => backend.name === 'fake')).toMatchObject({
      compatible: true,
      available: false,
      reason: 'the fake runtime is switched off',
      fix: 'unset FAKE_BACKEND_UNAVAILABLE',
    });
  });

  it('refuses the incompatible backend while the compatible one keeps working', () => {
    writeManifest(sandbox.project, {
      bottles: { old: { backend: 'fake', image: 'alpine:3' }, new: { backend: 'future', image: 'alpine:3' } },
      agents: {
        works: { bottle: 'old', template: 'shell', command: 'true' },
        refused: { bottle: 'new', template: 'shell', command: 'true' },
      },
    });
    const refused = run(sandbox, ['start', 'refused', '--detach']);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/^error: backend "future" from bot-bottle-backend-future@2\.0\.0 implements contract \^2\.0\.0, but this bot-bottle speaks contract 1\.0\.0/m);
    expect(refused.stderr).toMatch(/^hint: /m);

    const works = run(sandbox, ['start', 'works', '--detach', '--json']);
    expect(works.status, works.stderr).toBe(0);
    const started = JSON.parse(works.stdout) as { slug: string; backend: string; container: string };
    expect(started.backend).toBe('fake');
    expect(run(sandbox, ['cleanup', started.slug]).status).toBe(0);
  });
});

describe('lazy loading', () => {
  /** The backend entry modules a run imported. */
  const importedBackends = (args: string[], env: Record<string, string> = {}): string[] => {
    const out = join(sandbox.root, `trace-${Math.random().toString(36).slice(2)}.txt`);
    const result = run(sandbox, args, {
      env: { NODE_OPTIONS: `--import=${join(FIXTURES, 'trace-imports.mjs')}`, BB_TRACE_IMPORTS: out, ...env },
    });
    expect(result.status, result.stderr).toBe(0);
    return readFileSync(out, 'utf8')
      .split('\n')
      .filter((url) => /\/fixtures\/backend-[a-z]+\/index\.js$/.test(url))
      .map((url) => url.replace(/.*\/fixtures\//, ''));
  };

  it('a command that needs no backend imports none', () => {
    writeManifest(sandbox.project, demoManifest('fake'));
    expect(importedBackends(['list', 'agents'])).toEqual([]);
    expect(importedBackends(['info', 'demo'])).toEqual([]);
  });

  it('an incompatible backend is never imported, even by `backends`', () => {
    expect(importedBackends(['backends'])).toEqual(['backend-fake/index.js']);
  });
});

describe('a bottle from start to cleanup (fake backend)', () => {
  it('start --detach, list, exec, commit, cleanup, resume', () => {
    writeManifest(sandbox.project, demoManifest('fake'));

    const started = run(sandbox, ['start', 'demo', '--detach', '--json']);
    expect(started.status, started.stderr).toBe(0);
    const { slug, backend, container } = JSON.parse(started.stdout) as { slug: string; backend: string; container: string };
    expect(slug).toMatch(/^demo-[a-z0-9]{5}$/);
    expect(backend).toBe('fake');
    expect(container).toBe(`bot-bottle-${slug}`);

    const plain = run(sandbox, ['list', 'active']);
    expect(plain.stdout).toMatch(new RegExp(`^${slug}\\s+demo\\s+fake`, 'm'));
    const active = JSON.parse(run(sandbox, ['list', 'active', '--json']).stdout) as { slug: string; agent: string }[];
    expect(active).toContainEqual(expect.objectContaining({ slug, agent: 'demo', backend: 'fake' }));

    // exec passes the command through and exits with its code.
    const exec = run(sandbox, ['exec', slug, '--', 'sh', '-c', 'echo out-$0; exit 7', 'x']);
    expect(exec.stdout).toContain('out-x');
    expect(exec.status).toBe(7);
    const missing = run(sandbox, ['exec', slug, 'echo', 'hi']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('put the command after `--`');

    const committed = run(sandbox, ['commit', slug, '--json']);
    expect(committed.status, committed.stderr).toBe(0);
    const result = JSON.parse(committed.stdout) as { slug: string; backend: string; ref: string; resumeHint: string };
    expect(result).toMatchObject({ slug, backend: 'fake' });
    expect(result.resumeHint).toContain(`bot-bottle resume ${slug}`);

    // Cleanup of everything ends the bottle but keeps the committed state.
    const cleaned = run(sandbox, ['cleanup', '--json']);
    expect(cleaned.status, cleaned.stderr).toBe(0);
    const report = JSON.parse(cleaned.stdout) as { ended: { slug: string; preserved: boolean }[] };
    expect(report.ended).toContainEqual(expect.objectContaining({ slug, preserved: true, removedState: false }));
    expect(entries(join(sandbox.home, 'state'))).toContain(slug);
    expect(JSON.parse(run(sandbox, ['list', 'active', '--json']).stdout)).toEqual([]);

    // Resume boots from the snapshot.
    const resumed = run(sandbox, ['resume', slug, '--detach']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout.trim()).toBe(slug);
    expect(resumed.stderr).toContain('using committed snapshot');

    const ended = run(sandbox, ['cleanup', slug]);
    expect(ended.status, ended.stderr).toBe(0);
    expect(ended.stderr).toContain(`ended ${slug} (fake); committed state kept`);
  }, 120_000);

  it('an attached start runs the agent, exits with its code and removes the bottle', () => {
    writeManifest(sandbox.project, demoManifest('fake', 'echo agent-ran; exit 3'));
    const result = run(sandbox, ['start', 'demo']);
    expect(result.stdout).toContain('agent-ran');
    expect(result.status).toBe(3);
    expect(JSON.parse(run(sandbox, ['list', 'active', '--json']).stdout)).toEqual([]);
  });

  it('a cancelled commit exits 0', () => {
    writeManifest(sandbox.project, demoManifest('fake'));
    const slug = run(sandbox, ['start', 'demo', '--detach']).stdout.trim();
    const result = run(sandbox, ['commit', slug], { env: { FAKE_COMMIT_CANCEL: '1' } });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain('commit cancelled');
    expect(run(sandbox, ['cleanup', slug]).status).toBe(0);
    expect(entries(join(sandbox.home, 'state'))).not.toContain(slug);
  });

  it('an unavailable backend is refused with its reason and fix', () => {
    writeManifest(sandbox.project, demoManifest('fake'));
    const result = run(sandbox, ['start', 'demo', '--detach'], { env: { FAKE_BACKEND_UNAVAILABLE: '1' } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('error: backend "fake" is not available here: the fake runtime is switched off');
    expect(result.stderr).toContain('hint: unset FAKE_BACKEND_UNAVAILABLE');
  });
});
