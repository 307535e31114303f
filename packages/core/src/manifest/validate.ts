import { basename, isAbsolute, relative } from 'node:path';
import type * as z from 'zod/mini';
import { ManifestError } from '../errors.js';
import { PARSE_CONTEXT } from '../parse-context.js';
import { manifestSchema, type Manifest } from './schema.js';

/** More than this many problems are summarised as "…and N more"; a wall of errors helps nobody. */
const MAX_LISTED_ISSUES = 10;

/** The key under which package.json carries a manifest. */
export const PACKAGE_JSON_KEY = 'bot-bottle';

/**
 * How a manifest path is shown in messages: relative to the working
 * directory when it lies inside it (short, and what the user typed), else
 * absolute.
 */
export function displayPath(file: string, cwd: string = process.cwd()): string {
  if (!isAbsolute(file)) return file;
  const rel = relative(cwd, file);
  return rel.length > 0 && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/** `agents.demo.bottle`; keys that are not plain identifiers are quoted: `agents["a.b"]`, `command[0]`. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$-]*$/.test(key)) out += out.length > 0 ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

type Issue = z.core.$ZodIssue;

/** zod's wording is written for developers; say the same thing the way a manifest author reads it. */
function describeIssue(issue: Issue): string {
  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = issue.keys.map((key) => JSON.stringify(key)).join(', ');
      return issue.keys.length === 1 ? `unknown key ${keys}` : `unknown keys ${keys}`;
    }
    case 'invalid_type':
      if (/received undefined$/.test(issue.message)) return `is required (expected ${issue.expected})`;
      return issue.message.replace(/^Invalid input: /, '');
    case 'invalid_key': {
      const inner = issue.issues.map((nested) => nested.message).join('; ');
      return `invalid name${inner ? `: ${inner}` : ''}`;
    }
    case 'invalid_union': {
      const expected = new Set<string>();
      for (const branch of issue.errors) {
        for (const nested of branch) if (nested.code === 'invalid_type' && nested.path.length === 0) expected.add(nested.expected);
      }
      return expected.size > 0 ? `expected ${[...expected].join(' or ')}` : issue.message;
    }
    case 'invalid_value':
      return issue.message.replace(/^Invalid option: /, '');
    default:
      return issue.message.replace(/^Invalid input: /, '');
  }
}

/**
 * Check raw parsed content against the manifest schema. Every problem is
 * reported as `<file>: <key path>: <what is wrong>` so the author can go
 * straight to it; all of them at once (up to {@link MAX_LISTED_ISSUES}),
 * because fixing one error per run is tedious.
 */
export function validateManifest(raw: unknown, file: string): Manifest {
  const shown = displayPath(file);
  if (raw === undefined || raw === null) {
    throw new ManifestError(`${shown}: the manifest is empty`, {
      file,
      hint: 'a manifest defines "bottles" and "agents"; run `bot-bottle init` to write a starting one',
    });
  }
  const result = manifestSchema.safeParse(raw, PARSE_CONTEXT);
  if (result.success) return result.data;

  // In package.json the manifest lives under a key; name it so the path is findable.
  const prefix: PropertyKey[] = basename(file) === 'package.json' ? [PACKAGE_JSON_KEY] : [];
  const lines = result.error.issues.slice(0, MAX_LISTED_ISSUES).map((issue) => {
    const keyPath = formatKeyPath([...prefix, ...issue.path]);
    return `${shown}: ${keyPath ? `${keyPath}: ` : ''}${describeIssue(issue)}`;
  });
  const hidden = result.error.issues.length - lines.length;
  if (hidden > 0) lines.push(`…and ${hidden} more problem${hidden === 1 ? '' : 's'}`);
  throw new ManifestError(lines.join('\n'), { file, cause: result.error });
}
