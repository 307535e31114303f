import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BotBottleError,
  ManifestError,
  agentUserFrom,
  builtImageTag,
  homeFor,
  resolveImageSource,
  type BottleConfig,
  type BottleSpec,
} from '../src/index.js';

function specWith(manifestDir: string, bottle: Partial<BottleConfig>): BottleSpec {
  return {
    slug: 'demo-abc12',
    agentName: 'demo',
    agent: {} as BottleSpec['agent'],
    bottleName: 'base',
    bottle: bottle as BottleConfig,
    manifestDir,
    cwd: manifestDir,
  };
}

describe('agent user and home defaults', () => {
  it('takes the user part of the image user, else node', () => {
    expect(agentUserFrom('dev:dev')).toBe('dev');
    expect(agentUserFrom(' root ')).toBe('root');
    expect(agentUserFrom('')).toBe('node');
    expect(agentUserFrom(undefined)).toBe('node');
  });

  it('puts root in /root and everyone else in /home', () => {
    expect(homeFor('root')).toBe('/root');
    expect(homeFor('0')).toBe('/root');
    expect(homeFor('node')).toBe('/home/node');
  });

  it('tags built images per bottle', () => {
    expect(builtImageTag('base')).toBe('bot-bottle-agent-base:latest');
  });
});

describe('resolveImageSource', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bb-image-source-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes an image reference through', async () => {
    expect(await resolveImageSource(specWith(dir, { image: 'node:22' }))).toEqual({ kind: 'image', ref: 'node:22' });
  });

  it('resolves a Dockerfile relative to the manifest, context defaulting to its directory', async () => {
    await mkdir(join(dir, 'img'));
    await writeFile(join(dir, 'img', 'Dockerfile'), 'FROM node:22\n');
    expect(await resolveImageSource(specWith(dir, { dockerfile: 'img/Dockerfile' }))).toEqual({
      kind: 'dockerfile',
      tag: 'bot-bottle-agent-base:latest',
      dockerfile: join(dir, 'img', 'Dockerfile'),
      context: join(dir, 'img'),
    });
    expect(await resolveImageSource(specWith(dir, { dockerfile: 'img/Dockerfile', context: '.' }))).toMatchObject({ context: dir });
  });

  it('rejects a missing Dockerfile or context with a ManifestError', async () => {
    await expect(resolveImageSource(specWith(dir, { dockerfile: 'nope/Dockerfile' }))).rejects.toThrow(ManifestError);
    await expect(resolveImageSource(specWith(dir, { dockerfile: 'nope/Dockerfile' }))).rejects.toThrow(/does not exist/);
    await writeFile(join(dir, 'Dockerfile'), 'FROM node:22\n');
    await expect(resolveImageSource(specWith(dir, { dockerfile: 'Dockerfile', context: 'missing' }))).rejects.toThrow(
      /build context .* is not a directory/,
    );
  });

  it('rejects a bottle with neither image nor dockerfile', async () => {
    const error = await resolveImageSource(specWith(dir, {})).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BotBottleError);
    expect(error).not.toBeInstanceOf(ManifestError);
  });
});
