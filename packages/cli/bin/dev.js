#!/usr/bin/env node
// Workspace entry (used by /bin/bot-bottle at the repository root).
// NODE_ENV=development makes oclif load `oclif.devPlugins` from package.json,
// which is how the workspace's backend packages are found without
// `bot-bottle plugins install`. Compiled dist is used, never TypeScript
// sources: run `npx turbo run build --filter=@bot-bottle/cli...` first.
import { enableCompileCache } from 'node:module';

enableCompileCache?.();

process.env.NODE_ENV = 'development';
// The execute and settings entry points only: the full '@oclif/core' index
// also loads the parser, flags and command classes, which --version and
// --help never need (a command's module imports them when it runs).
const [{ execute }, { settings }] = await Promise.all([import('@oclif/core/execute'), import('@oclif/core/settings')]);
settings.enableAutoTranspile = false;
await execute({ dir: import.meta.url });
