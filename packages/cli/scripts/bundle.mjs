#!/usr/bin/env node
// Bundle the CLI into dist/ with esbuild.
//
// Why: `bot-bottle list agents` used to resolve, read and evaluate ~300
// modules (oclif, zod, our core) before doing any work, which made start-up
// ~6x `node -e 0`. Bundled, a run reads a few files. Code splitting keeps
// each command in its own file (dist/commands/<id>.js, as the oclif manifest
// names them) with shared code in dist/chunks/, so a command still loads
// only what it imports, and modules reached through `import()` (execa,
// cosmiconfig, @inquirer/search, ...) stay in chunks of their own that load
// on first use.
//
// Not bundled:
//   - oclif plugins (@oclif/plugin-help, @oclif/plugin-plugins, backends):
//     oclif finds them at run time from package.json and node_modules;
//   - what the sources load lazily through createRequire, which esbuild
//     cannot follow: semver (discovery.ts), and core's proper-lockfile and
//     tar-stream. They resolve from the CLI's node_modules, which is one
//     reason @bot-bottle/core stays a runtime dependency;
//   - typescript / ts-node: oclif's optional TypeScript support, which
//     this CLI switches off (settings.enableAutoTranspile = false).
//
// Node built-ins are loaded with require() rather than `import`: an ESM
// import of a built-in builds a namespace facade that reads every export,
// which runs lazy getters (fs.ReadStream, process stdio, ...) that pull in
// modules this run may never use.
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(packageRoot, 'src');
const outdir = join(packageRoot, 'dist');

const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));

/** Turn `import … from 'node:fs'` into a lazily evaluated `require('node:fs')`. */
const builtinsThroughRequire = {
  name: 'builtins-through-require',
  setup(bundler) {
    bundler.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      if (!builtins.has(args.path)) return undefined;
      // import('node:http') stays a native import: esbuild would hand a
      // dynamically imported CommonJS stub back with `default` only.
      if (args.kind === 'dynamic-import') return { path: args.path, external: true };
      // The stub's own require() is the real one.
      if (args.namespace === 'builtin') return { path: args.path, external: true };
      // sideEffects: false lets esbuild drop a built-in nobody uses.
      return { path: args.path, namespace: 'builtin', sideEffects: false };
    });
    bundler.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

const commands = readdirSync(join(src, 'commands'))
  .filter((file) => file.endsWith('.ts'))
  .map((file) => join(src, 'commands', file));

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [join(src, 'entry.ts'), ...commands],
  outbase: src,
  outdir,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  sourcemap: true,
  external: ['semver', 'typescript', 'ts-node'],
  plugins: [builtinsThroughRequire],
  // Bundled CommonJS (oclif and its dependencies) calls require(); give each
  // ESM chunk a real one.
  banner: { js: "import { createRequire as __bundleCreateRequire } from 'node:module';\nconst require = __bundleCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
