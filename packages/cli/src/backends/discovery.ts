import { createRequire } from 'node:module';
import { isAbsolute, relative, resolve } from 'node:path';
import type * as Semver from 'semver';

/**
 * semver's index is ~50 CommonJS modules; only a command that looks at
 * installed backends needs it, so it is required then, not when a command
 * module (which imports this file through base-command) loads.
 */
let semverModule: typeof Semver | undefined;
function semver(): typeof Semver {
  semverModule ??= createRequire(import.meta.url)('semver') as typeof Semver;
  return semverModule;
}

/** Backend names obey the slug alphabet: they end up in labels and file names. */
const BACKEND_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/** The parts of an oclif plugin discovery reads (an `Interfaces.Plugin` fits). */
export interface PluginLike {
  readonly name: string;
  readonly version: string;
  readonly root: string;
  /** oclif's plugin type: core, user, link, dev. */
  readonly type: string;
  readonly pjson: { readonly [key: string]: unknown };
}

/** One installed package that declares a bot-bottle backend. */
export interface DiscoveredBackend {
  /** Backend name, as manifests and state metadata spell it. */
  readonly name: string;
  readonly packageName: string;
  readonly version: string;
  /** The contract range the package declares (`botBottle.contract`). */
  readonly contract: string;
  readonly entry: string;
  /** Absolute path of the package. */
  readonly root: string;
  /** How oclif found it: `core`, `user` (plugins install), `link` (plugins link) or `dev` (workspace). */
  readonly pluginType: string;
  /** Whether the CLI will load it. */
  readonly compatible: boolean;
  /** Why it is refused, when it is. */
  readonly problem?: string;
  /** What to do about the refusal. */
  readonly fix?: string;
}

interface BotBottleKey {
  backend?: unknown;
  contract?: unknown;
  entry?: unknown;
}

function describe(plugin: PluginLike): string {
  return `${plugin.name}@${plugin.version}`;
}

/** Whether `entry` stays inside the package directory. */
function entryInside(root: string, entry: string): boolean {
  if (isAbsolute(entry)) return false;
  const rel = relative(root, resolve(root, entry));
  return rel.length > 0 && !rel.startsWith('..') && !isAbsolute(rel);
}

/**
 * Read the `botBottle` key of one plugin. Returns undefined for plugins that
 * are not backends; a malformed key yields a refused entry that says why.
 */
export function inspectPlugin(plugin: PluginLike, contractVersion: string): DiscoveredBackend | undefined {
  const raw = plugin.pjson.botBottle;
  if (raw === undefined) return undefined;
  const base = {
    packageName: plugin.name,
    version: plugin.version,
    root: plugin.root,
    pluginType: plugin.type,
  };
  const refuse = (name: string, contract: string, entry: string, problem: string, fix: string): DiscoveredBackend => ({
    ...base,
    name,
    contract,
    entry,
    compatible: false,
    problem,
    fix,
  });
  const reportFix = `this is a bug in ${plugin.name}; update it with \`bot-bottle plugins update\` or uninstall it with \`bot-bottle plugins uninstall ${plugin.name}\``;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return refuse('?', '?', '?', `${describe(plugin)} has a "botBottle" key that is not an object`, reportFix);
  }
  const key = raw as BotBottleKey;
  const name = typeof key.backend === 'string' ? key.backend : '?';
  const contract = typeof key.contract === 'string' ? key.contract : '?';
  const entry = typeof key.entry === 'string' ? key.entry : '?';
  if (typeof key.backend !== 'string' || !BACKEND_NAME.test(key.backend)) {
    return refuse(name, contract, entry, `${describe(plugin)} declares no valid "botBottle.backend" name (a-z, 0-9 and "-")`, reportFix);
  }
  if (typeof key.contract !== 'string' || semver().validRange(key.contract) === null) {
    return refuse(name, contract, entry, `${describe(plugin)} declares no valid "botBottle.contract" semver range`, reportFix);
  }
  if (typeof key.entry !== 'string' || !entryInside(plugin.root, key.entry)) {
    return refuse(name, contract, entry, `${describe(plugin)} declares no "botBottle.entry" inside its package`, reportFix);
  }
  if (!semver().satisfies(contractVersion, key.contract)) {
    const pluginTooOld = semver().gtr(contractVersion, key.contract);
    return refuse(
      name,
      contract,
      entry,
      `backend "${name}" from ${describe(plugin)} implements contract ${key.contract}, but this bot-bottle speaks contract ${contractVersion}; it is not loaded`,
      pluginTooOld
        ? `update the plugin: \`bot-bottle plugins update\` (or \`bot-bottle plugins install ${plugin.name}@latest\`)`
        : `update bot-bottle (\`npm install -g @bot-bottle/cli@latest\`), or install a release of ${plugin.name} built for contract ${contractVersion}`,
    );
  }
  return { ...base, name, contract, entry, compatible: true };
}

/** Which plugin wins when two claim one backend name: as in oclif, a linked plugin beats an installed one. */
const TYPE_RANK: Readonly<Record<string, number>> = { link: 0, user: 1, dev: 2, core: 3 };

function rank(plugin: PluginLike): number {
  return TYPE_RANK[plugin.type] ?? 4;
}

/**
 * Every installed package that declares itself a backend, sorted by backend
 * name. When two compatible packages claim the same backend name, a linked
 * one beats a user-installed one, which beats a workspace (dev) one; the
 * loser is refused with a note.
 */
export function discoverBackends(plugins: readonly PluginLike[], contractVersion: string): DiscoveredBackend[] {
  const found: DiscoveredBackend[] = [];
  const owners = new Map<string, DiscoveredBackend>();
  const ordered = [...plugins].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  for (const plugin of ordered) {
    const backend = inspectPlugin(plugin, contractVersion);
    if (!backend) continue;
    if (backend.compatible) {
      const owner = owners.get(backend.name);
      if (owner) {
        found.push({
          ...backend,
          compatible: false,
          problem: `backend "${backend.name}" is also provided by ${owner.packageName}@${owner.version}, which is the one used`,
          fix: `uninstall one of them: \`bot-bottle plugins uninstall ${backend.packageName}\``,
        });
        continue;
      }
      owners.set(backend.name, backend);
    }
    found.push(backend);
  }
  return found.sort((a, b) => a.name.localeCompare(b.name) || Number(b.compatible) - Number(a.compatible));
}
