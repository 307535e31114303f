import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BackendUnavailableError,
  type Availability,
  type BackendContext,
  type BackendPlugin,
  type BottleBackend,
  type Freezer,
} from '@bot-bottle/core';
import type { DiscoveredBackend } from './discovery.js';
import { FIRST_PARTY_BACKENDS, installCommandFor, suggestBackendPackage, type HostFacts } from './suggest.js';

/** A backend that loaded and answered its availability check. */
export interface UsableBackend {
  readonly info: DiscoveredBackend;
  readonly plugin: BackendPlugin;
  readonly backend: BottleBackend;
}

/** A backend that was skipped, and why. */
export interface SkippedBackend {
  readonly name: string;
  readonly packageName: string;
  readonly reason: string;
  readonly fix?: string;
}

function isBackendPlugin(value: unknown): value is BackendPlugin {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<BackendPlugin>;
  return (
    typeof candidate.name === 'string' &&
    typeof candidate.createBackend === 'function' &&
    typeof candidate.createFreezer === 'function'
  );
}

/** Import a discovered backend's entry module and check its default export. */
export async function importBackendPlugin(info: DiscoveredBackend): Promise<BackendPlugin> {
  const file = resolve(info.root, info.entry);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    const detail = (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND'
      ? `its entry ${file} is missing`
      : (error as Error).message;
    throw new BackendUnavailableError(`backend "${info.name}" (${info.packageName}@${info.version}) could not be loaded: ${detail}`, {
      hint:
        info.pluginType === 'dev' || info.pluginType === 'link'
          ? `build it: npx turbo run build --filter=${info.packageName}`
          : `reinstall it: ${installCommandFor(info.packageName)}`,
      cause: error,
    });
  }
  const plugin = module.default;
  if (!isBackendPlugin(plugin)) {
    throw new BackendUnavailableError(
      `backend "${info.name}" (${info.packageName}@${info.version}) has no BackendPlugin as the default export of ${info.entry}`,
      { hint: `report this to the authors of ${info.packageName}` },
    );
  }
  if (plugin.name !== info.name) {
    throw new BackendUnavailableError(
      `${info.packageName} declares backend "${info.name}" in package.json but its module is backend "${plugin.name}"`,
      { hint: `report this to the authors of ${info.packageName}` },
    );
  }
  return plugin;
}

/**
 * The installed backends, loaded on demand: a backend's module is imported
 * the first time a command asks for it, never at start-up.
 */
export class BackendRegistry {
  private readonly plugins = new Map<string, Promise<BackendPlugin>>();
  private readonly backends = new Map<string, BottleBackend>();

  constructor(
    readonly discovered: readonly DiscoveredBackend[],
    readonly context: BackendContext,
    private readonly host?: HostFacts,
  ) {}

  /** Backends the CLI accepts (compatible contract, first of their name). */
  get compatible(): DiscoveredBackend[] {
    return this.discovered.filter((backend) => backend.compatible);
  }

  /** The install command for the backend that fits this host. */
  installSuggestion(): string {
    return installCommandFor(suggestBackendPackage(this.host));
  }

  /** The error for "no usable backend named `name`", with the install hint that fits. */
  missingBackendError(name: string): BackendUnavailableError {
    const refused = this.discovered.find((backend) => backend.name === name && !backend.compatible);
    if (refused) {
      return new BackendUnavailableError(refused.problem ?? `backend "${name}" is not usable`, refused.fix ? { hint: refused.fix } : {});
    }
    const installed = this.compatible.map((backend) => backend.name);
    const firstParty = FIRST_PARTY_BACKENDS[name];
    if (installed.length === 0) {
      return new BackendUnavailableError(`no bot-bottle backend is installed, so backend "${name}" is not available`, {
        hint: `install ${firstParty ? 'it' : 'the one for this host'}: ${firstParty ? installCommandFor(firstParty) : this.installSuggestion()}`,
      });
    }
    return new BackendUnavailableError(`backend "${name}" is not installed (installed: ${installed.join(', ')})`, {
      hint: firstParty
        ? `install it: ${installCommandFor(firstParty)}`
        : `install the package that provides it with \`bot-bottle plugins install <package>\`, or change the bottle's "backend"; for this host: ${this.installSuggestion()}`,
    });
  }

  /** The error for a command that needs some backend while none is installed. */
  noBackendsError(): BackendUnavailableError {
    return new BackendUnavailableError('no bot-bottle backend is installed', {
      hint: `install the one for this host: ${this.installSuggestion()}`,
    });
  }

  /** Load the plugin module of a compatible backend. */
  async plugin(name: string): Promise<BackendPlugin> {
    const info = this.compatible.find((backend) => backend.name === name);
    if (!info) throw this.missingBackendError(name);
    let loading = this.plugins.get(name);
    if (!loading) {
      loading = importBackendPlugin(info);
      this.plugins.set(name, loading);
    }
    return loading;
  }

  /** The backend instance for `name` (one per process). */
  async backend(name: string): Promise<BottleBackend> {
    const cached = this.backends.get(name);
    if (cached) return cached;
    const backend = (await this.plugin(name)).createBackend(this.context);
    this.backends.set(name, backend);
    return backend;
  }

  /** The backend for `name`, refusing with its reason and fix when it cannot run on this host. */
  async availableBackend(name: string): Promise<BottleBackend> {
    const backend = await this.backend(name);
    const availability = await backend.availability();
    if (!availability.available) {
      throw new BackendUnavailableError(`backend "${name}" is not available here: ${availability.reason ?? 'unknown reason'}`, {
        ...(availability.fix ? { hint: availability.fix } : {}),
      });
    }
    return backend;
  }

  async freezer(name: string): Promise<Freezer> {
    return (await this.plugin(name)).createFreezer(this.context);
  }

  /** Availability of one backend, turning load failures into an unavailable answer. */
  async check(info: DiscoveredBackend): Promise<Availability & { loaded: boolean }> {
    if (!info.compatible) {
      return { available: false, loaded: false, reason: info.problem ?? 'refused', ...(info.fix ? { fix: info.fix } : {}) };
    }
    try {
      const backend = await this.backend(info.name);
      return { ...(await backend.availability()), loaded: true };
    } catch (error) {
      const hint = (error as { hint?: string }).hint;
      return { available: false, loaded: false, reason: (error as Error).message, ...(hint ? { fix: hint } : {}) };
    }
  }

  /**
   * Every compatible backend that loads and is available on this host; the
   * rest come back as skipped with their reason, so one broken backend never
   * stops the others.
   */
  async usable(): Promise<{ usable: UsableBackend[]; skipped: SkippedBackend[] }> {
    const usable: UsableBackend[] = [];
    const skipped: SkippedBackend[] = [];
    // Availability checks spawn runtime CLIs; run them side by side.
    const statuses = await Promise.all(this.discovered.map(async (info) => ({ info, status: await this.check(info) })));
    for (const { info, status } of statuses) {
      if (status.available && status.loaded) {
        usable.push({ info, plugin: await this.plugin(info.name), backend: await this.backend(info.name) });
      } else {
        skipped.push({
          name: info.name,
          packageName: info.packageName,
          reason: status.reason ?? 'not available',
          ...(status.fix ? { fix: status.fix } : {}),
        });
      }
    }
    return { usable, skipped };
  }
}
