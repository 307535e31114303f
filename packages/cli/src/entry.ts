/**
 * The oclif runtime that bin/run.js and bin/dev.js start. It is bundled
 * together with the commands (scripts/bundle.mjs), so the bin scripts and
 * the command classes share one copy of @oclif/core and start-up reads a
 * handful of files instead of resolving some 300 modules one by one.
 */
export { execute } from '@oclif/core/execute';
export { settings } from '@oclif/core/settings';
