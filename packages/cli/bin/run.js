#!/usr/bin/env node
// Production entry: what `npm install -g @bot-bottle/cli` puts on PATH.
// Commands come from oclif.manifest.json; a command's module is imported
// only when that command runs.
import { createRequire, enableCompileCache } from 'node:module';

// require(), not import: an ESM import of a built-in reads every export,
// which runs lazy getters (fs.ReadStream and the like) this run never needs.
const require = createRequire(import.meta.url);
const { existsSync, readFileSync } = require('node:fs');
const { arch, homedir, release, tmpdir } = require('node:os');
const { join } = require('node:path');

// Cache V8's compiled code between runs (Node >= 22.1); start-up matters for a CLI.
enableCompileCache?.();

/**
 * `bot-bottle --version` without loading oclif (its runtime and plugin
 * loading cost about twice Node's own start-up, even bundled). Prints
 * exactly oclif's `config.userAgent`,
 * `<name>/<version> <platform>-<arch> node-<version>`, and only when
 * nothing oclif would do first could differ. Returns false, leaving the
 * work to oclif, when:
 *   - the first argument is not `--version` (oclif looks at argv[0] only);
 *   - any plugin could run an `init` or `finally` hook around the version:
 *     the CLI's own hooks, user-installed or linked plugins (the data
 *     directory's package.json exists), dev plugins (NODE_ENV development
 *     or test); the core plugins' hooks are checked by a test;
 *   - oclif would log (DEBUG, BOT_BOTTLE_DEBUG), or the platform needs
 *     oclif's own detection (Windows, WSL), or package.json uses oclif
 *     settings this does not model (single-command CLI, bin aliases).
 * test/help.test.ts compares the output with oclif's.
 */
function printVersionWithoutOclif() {
  if (process.argv[2] !== '--version') return false;
  if (['development', 'test'].includes(process.env.NODE_ENV ?? '')) return false;
  if (process.platform === 'win32' || isMaybeWsl()) return false;

  let pjson;
  try {
    pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  } catch {
    return false;
  }
  const oclif = pjson.oclif ?? {};
  if (oclif.hooks?.init || oclif.hooks?.finally || oclif.binAliases || typeof oclif.commands !== 'string') return false;
  if (typeof pjson.name !== 'string' || typeof pjson.version !== 'string') return false;
  // oclif's scoped environment variables: BOT_BOTTLE_DEBUG, BOT_BOTTLE_DATA_DIR.
  const scope = String(oclif.bin || pjson.name).replaceAll('@', '').replaceAll(/[/-]/g, '_').toUpperCase();
  if (process.env.DEBUG || process.env[`${scope}_DEBUG`]) return false;

  // oclif's dataDir: <SCOPE>_DATA_DIR, else $XDG_DATA_HOME/<dirname>, else ~/.local/share/<dirname>.
  const dirname = oclif.dirname || pjson.name;
  const home = process.env.HOME || homedir() || tmpdir();
  const dataDir = process.env[`${scope}_DATA_DIR`] || join(process.env.XDG_DATA_HOME || join(home, '.local/share'), dirname);
  if (existsSync(join(dataDir, 'package.json'))) return false;

  const cpu = arch() === 'ia32' ? 'x86' : arch();
  process.stdout.write(`${pjson.name}/${pjson.version} ${process.platform}-${cpu} node-${process.version}\n`);
  return true;
}

/** True when oclif might report the platform as `wsl` (is-wsl's checks, inside a container or not). */
function isMaybeWsl() {
  if (process.platform !== 'linux') return false;
  if (release().toLowerCase().includes('microsoft')) return true;
  try {
    if (readFileSync('/proc/version', 'utf8').toLowerCase().includes('microsoft')) return true;
  } catch {
    // no /proc: not WSL
  }
  return existsSync('/proc/sys/fs/binfmt_misc/WSLInterop') || existsSync('/run/WSL');
}

if (!printVersionWithoutOclif()) {
  // oclif's runtime, bundled with the commands into dist/ (scripts/bundle.mjs).
  const { execute, settings } = await import('../dist/entry.js');
  // Never look for TypeScript sources: only compiled dist ships.
  settings.enableAutoTranspile = false;
  await execute({ dir: import.meta.url });
}
