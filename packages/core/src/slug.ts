import type * as Crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { InvalidSlugError } from './errors.js';

/** Longest slug accepted: keeps `bot-bottle-committed-<slug>:latest` and network names within runtime limits. */
export const MAX_SLUG_LENGTH = 48;

const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const SUFFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function isValidSlug(value: string): boolean {
  return value.length <= MAX_SLUG_LENGTH && SLUG_PATTERN.test(value);
}

/**
 * Validate a slug that came from a user before it reaches a path, an image
 * tag or a container name. Only `[a-z0-9-]`, starting and ending with a
 * letter or digit, so `../x`, `a/b` or `-rf` can never escape.
 */
export function assertValidSlug(value: string): string {
  if (!isValidSlug(value)) {
    const shown = JSON.stringify(value);
    throw new InvalidSlugError(
      `invalid slug ${shown}: a slug is 1-${MAX_SLUG_LENGTH} characters of a-z, 0-9 and '-', starting and ending with a letter or digit`,
      { hint: 'run `bot-bottle list active` to see the slugs of running bottles' },
    );
  }
  return value;
}

/** Agent names become the first part of a slug, so they obey the same alphabet. */
export function isValidAgentName(value: string): boolean {
  return value.length <= MAX_SLUG_LENGTH - 6 && SLUG_PATTERN.test(value);
}

/**
 * node:crypto takes ~5 ms to load, and most commands only read slugs, so it
 * is loaded the first time a slug is generated.
 */
function randomInt(below: number): number {
  const { randomInt: cryptoRandomInt } = createRequire(import.meta.url)('node:crypto') as typeof Crypto;
  return cryptoRandomInt(below);
}

/** `<agent>-<5 random [a-z0-9]>`. */
export function generateSlug(agentName: string): string {
  let suffix = '';
  for (let i = 0; i < 5; i += 1) suffix += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  return assertValidSlug(`${agentName}-${suffix}`);
}
