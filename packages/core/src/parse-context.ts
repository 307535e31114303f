import english from 'zod/v4/locales/en.js';
import type * as z from 'zod/mini';

/**
 * How core's schemas are parsed: with English messages, which zod/mini
 * leaves out unless asked, and without zod's JIT, since a command parses each
 * schema a handful of times at most and never repays compiling the eval
 * fast path.
 */
export const PARSE_CONTEXT: z.core.ParseContext<z.core.$ZodIssue> = { jitless: true, error: english().localeError };
