#!/usr/bin/env node
// Workspace entry (used by /bin/bot-bottle at the repository root).
// NODE_ENV=development makes oclif load `oclif.devPlugins` from package.json,
// which is how the workspace's backend packages are found without
// `bot-bottle plugins install`. The bundle in dist/ is used, never TypeScript
// sources: run `npx turbo run build --filter=@bot-bottle/cli...` first.
import { enableCompileCache } from 'node:module';

enableCompileCache?.();

process.env.NODE_ENV = 'development';
// oclif's runtime, bundled with the commands into dist/ (scripts/bundle.mjs).
const { execute, settings } = await import('../dist/entry.js');
settings.enableAutoTranspile = false;
await execute({ dir: import.meta.url });
