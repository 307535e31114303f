#!/usr/bin/env node
// Production entry: what `npm install -g @bot-bottle/cli` puts on PATH.
// Commands come from oclif.manifest.json; a command's module is imported
// only when that command runs.
import { enableCompileCache } from 'node:module';

// Cache V8's compiled code between runs (Node >= 22.1); start-up matters for a CLI.
enableCompileCache?.();

// The execute and settings entry points only: the full '@oclif/core' index
// also loads the parser, flags and command classes, which --version and
// --help never need (a command's module imports them when it runs).
const [{ execute }, { settings }] = await Promise.all([import('@oclif/core/execute'), import('@oclif/core/settings')]);
// Never look for TypeScript sources: only compiled dist ships.
settings.enableAutoTranspile = false;
await execute({ dir: import.meta.url });
