import { describe, expect, it } from 'vitest';
import {
  InvalidSlugError,
  MAX_SLUG_LENGTH,
  assertValidSlug,
  committedImageFor,
  generateSlug,
  isValidAgentName,
  isValidSlug,
  runtimeNameFor,
} from '../src/index.js';

describe('slug validation', () => {
  it.each(['a', 'demo-abc12', 'a1', '0-0', 'x'.repeat(MAX_SLUG_LENGTH)])('accepts %j', (slug) => {
    expect(isValidSlug(slug)).toBe(true);
    expect(assertValidSlug(slug)).toBe(slug);
  });

  it.each(['', '.', '..', '../x', 'a/b', 'A', 'Demo', '-x', 'x-', 'a b', 'a_b', 'a.b', 'x'.repeat(MAX_SLUG_LENGTH + 1), 'é'])(
    'rejects %j with a usage error',
    (slug) => {
      expect(isValidSlug(slug)).toBe(false);
      expect(() => assertValidSlug(slug)).toThrow(InvalidSlugError);
      try {
        assertValidSlug(slug);
      } catch (error) {
        expect((error as InvalidSlugError).exitCode).toBe(2);
        expect((error as InvalidSlugError).hint).toContain('bot-bottle list active');
      }
    },
  );

  it('keeps agent names short enough to leave room for the suffix', () => {
    expect(isValidAgentName('x'.repeat(MAX_SLUG_LENGTH - 6))).toBe(true);
    expect(isValidAgentName('x'.repeat(MAX_SLUG_LENGTH - 5))).toBe(false);
    expect(isValidAgentName('Claude')).toBe(false);
  });
});

describe('generateSlug', () => {
  it('is <agent>-<5 of [a-z0-9]>', () => {
    for (let i = 0; i < 200; i += 1) {
      const slug = generateSlug('demo');
      expect(slug).toMatch(/^demo-[a-z0-9]{5}$/);
      expect(isValidSlug(slug)).toBe(true);
    }
  });

  it('is random enough not to repeat in a handful of draws', () => {
    const slugs = new Set(Array.from({ length: 50 }, () => generateSlug('demo')));
    expect(slugs.size).toBe(50);
  });

  it('stays valid for the longest agent name', () => {
    const slug = generateSlug('x'.repeat(MAX_SLUG_LENGTH - 6));
    expect(slug).toHaveLength(MAX_SLUG_LENGTH);
  });

  it('names runtime objects from the slug', () => {
    expect(runtimeNameFor('demo-abc12')).toBe('bot-bottle-demo-abc12');
    expect(committedImageFor('demo-abc12')).toBe('bot-bottle-committed-demo-abc12:latest');
  });
});
