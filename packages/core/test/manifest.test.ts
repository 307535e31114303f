import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ManifestError,
  UnknownAgentError,
  buildSpec,
  displayPath,
  formatKeyPath,
  loadManifest,
  resolveAgent,
  validateManifest,
  writeManifest,
  type LoadedManifest,
  type ManifestInput,
} from '../src/index.js';

const VALID = {
  bottles: { base: { image: 'node:22' } },
  agents: { demo: { bottle: 'base', template: 'claude', prompt: 'be brief' } },
} satisfies ManifestInput;

const VALID_YAML = `bottles:
  base:
    image: node:22
agents:
  demo:
    bottle: base
    template: claude
`;

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bb-manifest-test-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(name: string, content: string): Promise<string> {
  const file = join(dir, name);
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, content);
  return file;
}

async function loadError(fromDir: string, options?: { file?: string }): Promise<ManifestError> {
  const error = await loadManifest(fromDir, options).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(ManifestError);
  return error as ManifestError;
}

describe('loadManifest finds every supported file', () => {
  it('bot-bottle.json', async () => {
    const file = await put('bot-bottle.json', JSON.stringify(VALID));
    const loaded = await loadManifest(dir);
    expect(loaded).toMatchObject({ file, dir });
    expect(loaded.manifest.agents.demo).toMatchObject({ bottle: 'base', template: 'claude', prompt: 'be brief', copyCwd: false });
    expect(loaded.manifest.bottles.base?.backend).toBe('docker');
  });

  it('.bot-bottlerc as JSON and as YAML', async () => {
    await put('.bot-bottlerc', JSON.stringify(VALID));
    expect((await loadManifest(dir)).manifest.agents.demo?.bottle).toBe('base');
    await put('.bot-bottlerc', VALID_YAML);
    expect((await loadManifest(dir)).manifest.agents.demo?.template).toBe('claude');
  });

  it.each(['.bot-bottlerc.yaml', '.bot-bottlerc.yml'])('%s', async (name) => {
    const file = await put(name, VALID_YAML);
    expect((await loadManifest(dir)).file).toBe(file);
  });

  it('.bot-bottlerc.json', async () => {
    const file = await put('.bot-bottlerc.json', JSON.stringify(VALID));
    expect((await loadManifest(dir)).file).toBe(file);
  });

  it('the bot-bottle key of package.json', async () => {
    const file = await put('package.json', JSON.stringify({ name: 'project', 'bot-bottle': VALID }));
    expect((await loadManifest(dir)).file).toBe(file);
  });

  it('bot-bottle.config.mjs', async () => {
    const file = await put('bot-bottle.config.mjs', `export default ${JSON.stringify(VALID)};\n`);
    const loaded = await loadManifest(dir);
    expect(loaded.file).toBe(file);
    expect(loaded.manifest.agents.demo?.prompt).toBe('be brief');
  });

  it('bot-bottle.config.js', async () => {
    await put('package.json', JSON.stringify({ name: 'esm-project', type: 'module' }));
    const file = await put('bot-bottle.config.js', `export default ${JSON.stringify(VALID)};\n`);
    expect((await loadManifest(dir)).file).toBe(file);
  });

  it('bot-bottle.config.ts', async () => {
    const file = await put(
      'bot-bottle.config.ts',
      `const template: 'claude' = 'claude';\nexport default { bottles: { base: { image: 'node:22' } }, agents: { demo: { bottle: 'base', template } } };\n`,
    );
    const loaded = await loadManifest(dir);
    expect(loaded.file).toBe(file);
    expect(loaded.manifest.agents.demo?.template).toBe('claude');
  });

  it('a module manifest without a default export is a clear error', async () => {
    await put('bot-bottle.config.mjs', 'export const manifest = {};\n');
    const error = await loadError(dir);
    expect(error.message).toContain('has no default export');
    expect(error.hint).toContain('export default');
  });

  it('searches parent directories', async () => {
    const file = await put('bot-bottle.json', JSON.stringify(VALID));
    const nested = join(dir, 'src', 'deep');
    await mkdir(nested, { recursive: true });
    // A package.json without our key does not stop the search.
    await put('src/package.json', JSON.stringify({ name: 'inner' }));
    const loaded = await loadManifest(nested);
    expect(loaded.file).toBe(file);
    expect(loaded.dir).toBe(dir);
  });

  it('prefers bot-bottle.json over the package.json key in the same directory', async () => {
    const file = await put('bot-bottle.json', JSON.stringify(VALID));
    await put('package.json', JSON.stringify({ 'bot-bottle': { bottles: {} } }));
    expect((await loadManifest(dir)).file).toBe(file);
  });

  it('loads exactly the given file', async () => {
    await put('bot-bottle.json', JSON.stringify(VALID));
    const other = await put('manifests/other.json', JSON.stringify({ ...VALID, agents: { other: { bottle: 'base', template: 'codex' } } }));
    const loaded = await loadManifest(dir, { file: 'manifests/other.json' });
    expect(loaded.file).toBe(other);
    expect(Object.keys(loaded.manifest.agents)).toEqual(['other']);
  });
});

describe('loadManifest errors', () => {
  it('no manifest anywhere hints at init', async () => {
    const error = await loadError(dir);
    expect(error.message).toContain('no bot-bottle manifest found');
    expect(error.hint).toContain('bot-bottle init');
  });

  it('a given file that does not exist', async () => {
    const error = await loadError(dir, { file: 'missing.json' });
    expect(error.message).toContain('missing.json does not exist');
    expect(error.file).toBe(join(dir, 'missing.json'));
  });

  it('a given file of a kind it cannot read', async () => {
    await put('manifest.toml', 'bottles = 1');
    const error = await loadError(dir, { file: 'manifest.toml' });
    expect(error.message).toContain('manifest.toml: bot-bottle cannot read this kind of file');
  });

  it('malformed JSON names the file', async () => {
    const file = await put('bot-bottle.json', '{ "bottles": { ');
    const error = await loadError(dir);
    expect(error.message).toContain(`${file}: could not be parsed`);
    expect(error.file).toBe(file);
  });

  it('malformed YAML names the file', async () => {
    const file = await put('.bot-bottlerc.yaml', 'bottles: [unclosed\n');
    const error = await loadError(dir);
    expect(error.message).toContain(`${file}: could not be parsed`);
  });

  it('an empty file is reported, not skipped', async () => {
    const file = await put('bot-bottle.json', '');
    const error = await loadError(dir);
    expect(error.message).toContain(`${file}: the manifest is empty`);
  });

  it('a package.json given explicitly without the key', async () => {
    await put('package.json', JSON.stringify({ name: 'x' }));
    const error = await loadError(dir, { file: 'package.json' });
    expect(error.message).toContain('has no "bot-bottle" key');
  });

  it('validation problems in package.json name the key they live under', async () => {
    await put('package.json', JSON.stringify({ 'bot-bottle': { ...VALID, extra: true } }));
    const error = await loadError(dir);
    expect(error.message).toContain('package.json: bot-bottle: unknown key "extra"');
  });
});

describe('validateManifest', () => {
  const invalid = (raw: unknown): ManifestError => {
    try {
      validateManifest(raw, '/project/bot-bottle.json');
    } catch (error) {
      expect(error).toBeInstanceOf(ManifestError);
      return error as ManifestError;
    }
    throw new Error('expected the manifest to be rejected');
  };

  it('returns the manifest with defaults filled in', () => {
    const manifest = validateManifest(VALID, 'bot-bottle.json');
    expect(manifest.agents.demo).toEqual({
      bottle: 'base',
      template: 'claude',
      prompt: 'be brief',
      skills: [],
      env: {},
      copyCwd: false,
    });
  });

  it('names the file and the key path of an agent pointing at a missing bottle', () => {
    const error = invalid({ ...VALID, agents: { demo: { bottle: 'x', template: 'claude' } } });
    expect(error.message).toBe('/project/bot-bottle.json: agents.demo.bottle: names bottle "x", which is not defined under "bottles"');
    expect(error.file).toBe('/project/bot-bottle.json');
  });

  it('reports unknown keys where they are', () => {
    expect(invalid({ ...VALID, bottles: { base: { image: 'x', imgae: 'y' } } }).message).toContain(
      'bot-bottle.json: bottles.base: unknown key "imgae"',
    );
    expect(invalid({ ...VALID, colour: 'blue' }).message).toBe('/project/bot-bottle.json: unknown key "colour"');
  });

  it('rejects a bottle with both dockerfile and image, and with neither', () => {
    expect(invalid({ ...VALID, bottles: { base: { image: 'x', dockerfile: 'Dockerfile' } } }).message).toContain(
      'bottles.base: a bottle needs exactly one of "dockerfile" or "image"',
    );
    expect(invalid({ ...VALID, bottles: { base: {} } }).message).toContain('exactly one of');
  });

  it('says a required key is missing', () => {
    expect(invalid({ agents: {} }).message).toContain('bottles: is required');
    expect(invalid({ ...VALID, agents: { demo: { template: 'claude' } } }).message).toContain('agents.demo.bottle: is required');
  });

  it('reports bad names, types and unions readably', () => {
    const error = invalid({
      bottles: { Base: { image: 'x' }, ok: { image: 'y' } },
      agents: { demo: { bottle: 'ok', command: 5 }, other: { bottle: 'ok', template: 'gpt' } },
    });
    expect(error.message).toContain('bottles.Base: invalid name: bottle names use a-z');
    expect(error.message).toContain('agents.demo.command: expected string or array');
    expect(error.message).toContain('agents.other.template:');
  });

  it('lists every problem, one per line, up to ten', () => {
    const agents = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`a${i}`, { bottle: `missing-${i}`, template: 'codex' }]));
    const lines = invalid({ bottles: {}, agents }).message.split('\n');
    expect(lines).toHaveLength(11);
    expect(lines.slice(0, 10).every((line) => line.startsWith('/project/bot-bottle.json: agents.a'))).toBe(true);
    expect(lines[10]).toBe('…and 2 more problems');
  });

  it('rejects empty content and non-objects', () => {
    expect(invalid(undefined).message).toContain('the manifest is empty');
    expect(invalid([]).message).toContain('expected object, received array');
  });
});

describe('egress in the manifest', () => {
  const withEgress = (egress: unknown) => ({ ...VALID, bottles: { base: { image: 'node:22', egress } } });
  const invalid = (raw: unknown): string => {
    try {
      validateManifest(raw, '/project/bot-bottle.json');
    } catch (error) {
      expect(error).toBeInstanceOf(ManifestError);
      return (error as ManifestError).message;
    }
    throw new Error('expected the manifest to be rejected');
  };

  it('accepts exact hosts, wildcards, ports and routes, filling in defaults', () => {
    const manifest = validateManifest(
      withEgress({
        allow: ['api.github.com', '*.npmjs.org', 'example.com:8443', '10.0.0.1'],
        routes: [{ host: 'api.github.com', header: 'authorization', fromEnv: 'GITHUB_TOKEN' }],
      }),
      'bot-bottle.json',
    );
    expect(manifest.bottles.base?.egress).toEqual({
      allow: ['api.github.com', '*.npmjs.org', 'example.com:8443', '10.0.0.1'],
      routes: [{ host: 'api.github.com', header: 'authorization', fromEnv: 'GITHUB_TOKEN' }],
    });
    expect(validateManifest(withEgress({}), 'b.json').bottles.base?.egress).toEqual({ allow: [], routes: [] });
    expect(validateManifest(VALID, 'b.json').bottles.base?.egress).toBeUndefined();
  });

  it('a route may use a host allowed by a wildcard', () => {
    expect(() =>
      validateManifest(withEgress({ allow: ['*.example.com'], routes: [{ host: 'api.example.com', header: 'x-key', fromEnv: 'KEY' }] }), 'b.json'),
    ).not.toThrow();
  });

  it.each([
    ['https://api.github.com', 'bottles.base.egress.allow[0]: expected a host such as'],
    ['api.github.com/path', 'bottles.base.egress.allow[0]: expected a host'],
    ['*', 'bottles.base.egress.allow[0]: expected a host'],
    ['a.*.example.com', 'bottles.base.egress.allow[0]: expected a host'],
    ['example.com:0', 'bottles.base.egress.allow[0]: expected a host'],
    ['example.com:70000', 'bottles.base.egress.allow[0]: ports go up to 65535'],
    ['-bad.example.com', 'bottles.base.egress.allow[0]: expected a host'],
  ])('rejects the allowed host %j, naming file and key path', (host, message) => {
    expect(invalid(withEgress({ allow: [host] }))).toContain(`/project/bot-bottle.json: ${message}`);
  });

  it('rejects malformed routes where they are', () => {
    const message = invalid(
      withEgress({
        allow: ['api.github.com'],
        routes: [
          { host: '*.github.com', header: 'authorization', fromEnv: 'T' },
          { host: 'api.github.com', header: 'bad header', fromEnv: 'T' },
          { host: 'api.github.com', header: 'x', fromEnv: '1TOKEN' },
          { host: 'api.github.com', header: 'x', fromEnv: 'T', value: 'secret' },
          { host: 'api.github.com', header: 'authorization' },
        ],
      }),
    );
    expect(message).toContain('bottles.base.egress.routes[0].host: expected an exact host name');
    expect(message).toContain('bottles.base.egress.routes[1].header: expected an HTTP header name');
    expect(message).toContain('bottles.base.egress.routes[2].fromEnv: expected an environment variable name');
    expect(message).toContain('bottles.base.egress.routes[3]: unknown key "value"');
    expect(message).toContain('bottles.base.egress.routes[4].fromEnv: is required');
  });

  it('a route for a host that is not allowed, and a duplicate header, are errors', () => {
    const message = invalid(
      withEgress({
        allow: ['api.github.com', 'other.example:8443'],
        routes: [
          { host: 'uploads.github.com', header: 'authorization', fromEnv: 'T' },
          { host: 'api.github.com', header: 'authorization', fromEnv: 'T' },
          { host: 'api.github.com', header: 'Authorization', fromEnv: 'U' },
          { host: 'other.example', header: 'x-key', fromEnv: 'K' },
        ],
      }),
    );
    expect(message).toContain('bottles.base.egress.routes[0].host: uploads.github.com is not in "allow"');
    expect(message).toContain('bottles.base.egress.routes[2]: header "Authorization" is injected for api.github.com twice');
    expect(message).toContain('bottles.base.egress.routes[3].host: other.example is not in "allow"');
  });

  it('rejects unknown keys and wrong types in egress', () => {
    expect(invalid(withEgress({ allow: 'api.github.com' }))).toContain('bottles.base.egress.allow: expected array');
    expect(invalid(withEgress({ deny: [] }))).toContain('bottles.base.egress: unknown key "deny"');
  });
});

describe('formatKeyPath and displayPath', () => {
  it('formats key paths the way they are written', () => {
    expect(formatKeyPath(['agents', 'demo', 'bottle'])).toBe('agents.demo.bottle');
    expect(formatKeyPath(['agents', 'demo', 'command', 0])).toBe('agents.demo.command[0]');
    expect(formatKeyPath(['agents', 'a.b'])).toBe('agents["a.b"]');
    expect(formatKeyPath([])).toBe('');
  });

  it('shows paths inside the working directory relative to it', () => {
    expect(displayPath('/work/project/bot-bottle.json', '/work/project')).toBe('bot-bottle.json');
    expect(displayPath('/elsewhere/bot-bottle.json', '/work/project')).toBe('/elsewhere/bot-bottle.json');
  });
});

describe('resolveAgent and buildSpec', () => {
  const loaded: LoadedManifest = {
    manifest: validateManifest(
      { ...VALID, agents: { ...VALID.agents, shell: { bottle: 'base', command: 'bash' } } },
      '/project/bot-bottle.json',
    ),
    file: '/project/bot-bottle.json',
    dir: '/project',
  };

  it('finds the agent and its bottle', () => {
    const resolved = resolveAgent(loaded, 'demo');
    expect(resolved.bottleName).toBe('base');
    expect(resolved.bottle).toMatchObject({ image: 'node:22', backend: 'docker' });
    expect(resolved.agent.template).toBe('claude');
  });

  it('lists the known agents for an unknown one', () => {
    const error = (() => {
      try {
        resolveAgent(loaded, 'nope');
      } catch (caught) {
        return caught as UnknownAgentError;
      }
      throw new Error('expected UnknownAgentError');
    })();
    expect(error).toBeInstanceOf(UnknownAgentError);
    expect(error.message).toContain('known agents: demo, shell');
    expect(error.hint).toContain('bot-bottle list agents');
    expect(error.exitCode).toBe(2);
  });

  it.each(['../x', 'A', '-x', 'a/b', 'constructor ', ''])('rejects the agent name %j before looking it up', (name) => {
    expect(() => resolveAgent(loaded, name)).toThrow(UnknownAgentError);
    expect(() => resolveAgent(loaded, name)).toThrow(/invalid agent name/);
  });

  it('does not find inherited object properties as agents', () => {
    expect(() => resolveAgent(loaded, 'constructor')).toThrow(/no agent named "constructor"/);
  });

  it('builds the spec a backend prepares', () => {
    expect(buildSpec(loaded, 'demo', 'demo-abc12', '/home/me/code')).toEqual({
      slug: 'demo-abc12',
      agentName: 'demo',
      agent: loaded.manifest.agents.demo,
      bottleName: 'base',
      bottle: loaded.manifest.bottles.base,
      manifestDir: '/project',
      cwd: '/home/me/code',
    });
    expect(() => buildSpec(loaded, 'demo', '../escape', '/tmp')).toThrow(/invalid slug/);
  });
});

describe('writeManifest', () => {
  it('writes pretty JSON atomically that loads back', async () => {
    const file = join(dir, 'bot-bottle.json');
    await writeManifest(file, VALID);
    const text = await readFile(file, 'utf8');
    expect(text).toBe(`${JSON.stringify(VALID, null, 2)}\n`);
    expect((await loadManifest(dir)).manifest.agents.demo?.prompt).toBe('be brief');
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses to write an invalid manifest', async () => {
    const file = join(dir, 'bot-bottle.json');
    await expect(writeManifest(file, { bottles: {}, agents: { demo: { bottle: 'x' } } } as never)).rejects.toThrow(ManifestError);
    await expect(readFile(file)).rejects.toThrow();
  });

  it('refuses files it would have to rewrite in another language', async () => {
    await expect(writeManifest(join(dir, 'bot-bottle.config.ts'), VALID)).rejects.toThrow(/only writes JSON/);
    await expect(writeManifest(join(dir, 'package.json'), VALID)).rejects.toThrow(/only writes JSON/);
  });
});
