import type { Interfaces } from '@oclif/core';
import { Command } from '@oclif/core/command';
import * as Flags from '@oclif/core/flags';
import {
  BotBottleError,
  CONTRACT_VERSION,
  ManifestError,
  StateStore,
  StreamReporter,
  resolveHome,
  type BackendContext,
} from '@bot-bottle/core';
import { discoverBackends } from './backends/discovery.js';
import { BackendRegistry } from './backends/registry.js';
import { cliExitCode } from './lib/exit-code.js';
import { PickCancelled } from './ui/pick.js';

// Commands import only the parts of @oclif/core they use (command, flags,
// args): its package index also loads all of semver, some 60 modules. The
// index warned on load when the working directory is gone; keep that.
try {
  process.cwd();
} catch (error) {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') process.stderr.write('WARNING: current directory does not exist\n');
}

/** `-m/--manifest`, shared by the commands that read bot-bottle.json. */
export const manifestFlag = Flags.string({
  char: 'm',
  summary: 'Path to the manifest (default: bot-bottle.json in this or a parent directory).',
  helpValue: 'FILE',
});

function debugEnabled(): boolean {
  const value = process.env.DEBUG;
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

/** oclif's own exit signal (`this.exit(code)`), which must pass through untouched. */
function isOclifExit(error: unknown): boolean {
  return (error as { code?: unknown; oclif?: { exit?: unknown } })?.code === 'EEXIT';
}

/**
 * What every bot-bottle command shares: the backend context, the lazily
 * loaded backend registry, and error printing. Expected errors
 * ({@link BotBottleError}) print one `error:` line and a `hint:` line and
 * exit with the error's code; a stack trace appears only with DEBUG set.
 */
export abstract class BaseCommand extends Command {
  private context?: BackendContext;
  private registryInstance?: BackendRegistry;

  /** Shared services handed to backends and core: state store, reporter (stderr), environment. */
  protected backendContext(): BackendContext {
    this.context ??= {
      store: new StateStore(resolveHome(process.env)),
      reporter: new StreamReporter(process.stderr),
      env: process.env,
    };
    return this.context;
  }

  protected get store(): StateStore {
    return this.backendContext().store;
  }

  /** Installed backends found through oclif's plugin list; nothing is imported until used. */
  protected registry(): BackendRegistry {
    this.registryInstance ??= new BackendRegistry(
      discoverBackends(this.config.getPluginsList(), CONTRACT_VERSION),
      this.backendContext(),
    );
    return this.registryInstance;
  }

  /** A status line for people: stderr, so stdout stays parseable. */
  protected note(message: string): void {
    process.stderr.write(`${message}\n`);
  }

  protected override async catch(error: Interfaces.CommandError): Promise<unknown> {
    if (isOclifExit(error)) throw error;
    if (error instanceof PickCancelled) {
      this.note('cancelled');
      this.exit(0);
    }
    if (error instanceof BotBottleError) {
      const hint = error.hint ?? (error instanceof ManifestError ? 'fix the file, or open it with `bot-bottle edit <AGENT>`, which checks it again when the editor closes' : undefined);
      this.printError(error.message, hint, error);
      const exitCode = cliExitCode(error);
      if (this.jsonEnabled()) {
        this.logJson({ error: { name: error.name, message: error.message, hint, exitCode } });
      }
      this.exit(exitCode);
    }
    // Ctrl-C aborted a step (launch, resume): the step cleaned up after itself.
    if ((error as Error).name === 'AbortError') {
      this.printError('interrupted', undefined, error);
      this.exit(130);
    }
    // oclif's own errors (bad flags, missing args) already read well.
    if ((error as { oclif?: unknown }).oclif !== undefined) return super.catch(error);
    this.printError(
      (error as Error).message || String(error),
      debugEnabled() ? undefined : 'this looks like a bug in bot-bottle; run again with DEBUG=1 to see where it happened',
      error,
    );
    if (this.jsonEnabled()) {
      this.logJson({ error: { name: (error as Error).name, message: (error as Error).message } });
    }
    this.exit(1);
    return undefined;
  }

  private printError(message: string, hint: string | undefined, error: unknown): void {
    process.stderr.write(`error: ${message}\n`);
    if (hint) process.stderr.write(`hint: ${hint}\n`);
    if (debugEnabled() && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  }
}
