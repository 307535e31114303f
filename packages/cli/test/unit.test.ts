// Pure functions of the CLI, imported from source.
import { BotBottleError, CommitAborted, ProcessError, UsageError } from '@bot-bottle/core';
import { describe, expect, it } from 'vitest';
import { discoverBackends, inspectPlugin, type PluginLike } from '../src/backends/discovery.js';
import { suggestBackendPackage } from '../src/backends/suggest.js';
import { editorArguments, findAgentLine } from '../src/lib/editor.js';
import { cliExitCode } from '../src/lib/exit-code.js';
import { buildManifest } from '../src/lib/init.js';
import { table } from '../src/ui/table.js';

function plugin(name: string, botBottle: unknown, type = 'user', version = '1.0.0'): PluginLike {
  return { name, version, root: `/plugins/${name}`, type, pjson: botBottle === undefined ? {} : { botBottle } };
}

describe('discovery', () => {
  it('ignores plugins without a botBottle key', () => {
    expect(inspectPlugin(plugin('@oclif/plugin-help', undefined), '1.0.0')).toBeUndefined();
  });

  it('accepts a compatible backend', () => {
    expect(inspectPlugin(plugin('pkg', { backend: 'docker', contract: '^1.0.0', entry: './dist/index.js' }), '1.2.0')).toMatchObject({
      name: 'docker',
      packageName: 'pkg',
      compatible: true,
    });
  });

  it('refuses an incompatible range, naming both versions', () => {
    const refused = inspectPlugin(plugin('pkg', { backend: 'x', contract: '^2.0.0', entry: './i.js' }), '1.0.0');
    expect(refused?.compatible).toBe(false);
    expect(refused?.problem).toContain('^2.0.0');
    expect(refused?.problem).toContain('1.0.0');
    expect(refused?.fix).toContain('update bot-bottle');
    const old = inspectPlugin(plugin('pkg', { backend: 'x', contract: '^0.3.0', entry: './i.js' }), '1.0.0');
    expect(old?.fix).toContain('update the plugin');
  });

  it.each([
    ['not an object', 'docker'],
    ['bad name', { backend: 'Bad/Name', contract: '^1.0.0', entry: './i.js' }],
    ['bad range', { backend: 'x', contract: 'soon', entry: './i.js' }],
    ['entry outside the package', { backend: 'x', contract: '^1.0.0', entry: '../../etc/evil.js' }],
    ['absolute entry', { backend: 'x', contract: '^1.0.0', entry: '/tmp/evil.js' }],
  ])('refuses a malformed key: %s', (_label, key) => {
    const refused = inspectPlugin(plugin('pkg', key), '1.0.0');
    expect(refused?.compatible).toBe(false);
    expect(refused?.problem).toContain('pkg@1.0.0');
  });

  it('lets a linked plugin win over an installed one of the same backend name', () => {
    const key = { backend: 'docker', contract: '^1.0.0', entry: './i.js' };
    const found = discoverBackends([plugin('installed', key, 'user'), plugin('linked', key, 'link')], '1.0.0');
    expect(found.find((entry) => entry.compatible)?.packageName).toBe('linked');
    expect(found.find((entry) => !entry.compatible)?.problem).toContain('also provided by linked');
  });

  it('sorts by backend name', () => {
    const found = discoverBackends(
      [
        plugin('b', { backend: 'zeta', contract: '^1', entry: './i.js' }),
        plugin('a', { backend: 'alpha', contract: '^1', entry: './i.js' }),
      ],
      '1.0.0',
    );
    expect(found.map((entry) => entry.name)).toEqual(['alpha', 'zeta']);
  });
});

describe('install suggestion', () => {
  const host = (platform: NodeJS.Platform, arch: string, path: string[] = []) => ({
    platform,
    arch,
    onPath: (command: string) => path.includes(command),
  });

  it('fits the host', () => {
    expect(suggestBackendPackage(host('darwin', 'arm64', ['docker']))).toBe('@bot-bottle/backend-macos-container');
    expect(suggestBackendPackage(host('linux', 'x64', ['smolvm']))).toBe('@bot-bottle/backend-smolmachines');
    expect(suggestBackendPackage(host('darwin', 'x64', ['smolvm', 'docker']))).toBe('@bot-bottle/backend-smolmachines');
    expect(suggestBackendPackage(host('linux', 'x64', ['docker']))).toBe('@bot-bottle/backend-docker');
    expect(suggestBackendPackage(host('linux', 'arm64'))).toBe('@bot-bottle/backend-docker');
  });
});

describe('edit helpers', () => {
  const json = JSON.stringify({ bottles: { demo: { image: 'x' } }, agents: { other: { bottle: 'demo' }, demo: { bottle: 'demo' } } }, null, 2);

  it('finds the agent under "agents", not the bottle of the same name', () => {
    const line = findAgentLine(json, 'demo');
    expect(json.split('\n')[(line ?? 0) - 1]).toBe('    "demo": {');
    expect(line).toBeGreaterThan(json.split('\n').findIndex((text) => text.includes('"agents"')));
  });

  it('finds YAML keys too, and gives up quietly', () => {
    expect(findAgentLine('bottles:\n  demo:\n    image: x\nagents:\n  demo:\n    bottle: demo\n', 'demo')).toBe(5);
    expect(findAgentLine('{}', 'demo')).toBeUndefined();
  });

  it('passes the line the way each editor expects', () => {
    expect(editorArguments('vim', 'f.json', 7)).toEqual(['+7', 'f.json']);
    expect(editorArguments('/usr/bin/nano -w', 'f.json', 7)).toEqual(['+7', 'f.json']);
    expect(editorArguments('code --wait', 'f.json', 7)).toEqual(['--goto', 'f.json:7']);
    expect(editorArguments('subl -w', 'f.json', 7)).toEqual(['f.json:7']);
    expect(editorArguments('ed', 'f.json', 7)).toEqual(['f.json']);
    expect(editorArguments('vim', 'f.json', undefined)).toEqual(['f.json']);
  });
});

describe('init manifest', () => {
  it('names the bottle after the agent and leaves defaults out', () => {
    expect(buildManifest({ agent: 'claude', template: 'claude', backend: 'docker', dockerfile: 'Dockerfile' })).toEqual({
      bottles: { claude: { backend: 'docker', dockerfile: 'Dockerfile' } },
      agents: { claude: { bottle: 'claude', template: 'claude' } },
    });
  });
});

describe('table', () => {
  it('aligns columns and does not pad the last one', () => {
    expect(table(['A', 'BB'], [['long', 'x'], ['s', 'yy']])).toBe('A     BB\nlong  x\ns     yy');
  });
});

describe('exit codes', () => {
  it('a failed child command is a plain failure, not the status of the child', () => {
    expect(cliExitCode(new ProcessError(['docker', 'run', 'x'], 125, 'docker: Error response from daemon'))).toBe(1);
    expect(cliExitCode(new ProcessError(['tar', '--create'], 2, 'tar: fatal'))).toBe(1);
  });

  it('keeps the codes bot-bottle chose: interrupts 130, others as given or 1', () => {
    expect(cliExitCode(new CommitAborted('demo-abcde'))).toBe(130);
    expect(cliExitCode(new UsageError('usage'))).toBe(2);
    expect(cliExitCode(new BotBottleError('plain'))).toBe(1);
  });
});
