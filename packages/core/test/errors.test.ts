import { describe, expect, it, vi } from 'vitest';
import type * as errorsModule from '../src/errors.js';
import {
  BotBottleError,
  CommitCancelled,
  InvalidSlugError,
  ManifestError,
  UsageError,
  isBotBottleError,
} from '../src/errors.js';

// A plugin installed with `bot-bottle plugins install` carries its own copy of
// core; its error classes are distinct objects with the same names. Build such
// a "second copy" by evaluating the module again after clearing the registry.
async function secondCopy(): Promise<typeof errorsModule> {
  vi.resetModules();
  return import('../src/errors.js');
}

describe('errors', () => {
  it('recognises errors made by another copy of core', async () => {
    const other = await secondCopy();
    expect(other.BotBottleError).not.toBe(BotBottleError);
    const foreign = new other.ManifestError('bad manifest', { file: 'x.json', hint: 'fix it' });
    expect(foreign instanceof BotBottleError).toBe(true);
    expect(foreign instanceof ManifestError).toBe(true);
    expect(foreign instanceof UsageError).toBe(false);
    expect(isBotBottleError(foreign)).toBe(true);
    expect(new other.CommitCancelled() instanceof CommitCancelled).toBe(true);
  });

  it('keeps subclass distinctions and rejects plain errors', () => {
    const invalid = new InvalidSlugError('bad slug');
    expect(invalid instanceof UsageError).toBe(true);
    expect(invalid instanceof BotBottleError).toBe(true);
    expect(invalid instanceof ManifestError).toBe(false);
    expect(invalid.exitCode).toBe(2);
    expect(new Error('x') instanceof BotBottleError).toBe(false);
    expect(new Error('x') instanceof CommitCancelled).toBe(false);
    expect(new CommitCancelled() instanceof BotBottleError).toBe(false);
    expect(null instanceof BotBottleError).toBe(false);
  });
});
