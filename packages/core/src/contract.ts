/**
 * The bot-bottle backend contract, readable in one file.
 *
 * A backend is an npm package (and oclif plugin) whose default export is a
 * {@link BackendPlugin}. The host CLI finds it through the `botBottle` key of
 * its package.json, checks the declared contract range against
 * {@link CONTRACT_VERSION}, and only then imports the module.
 *
 * Lifecycle of one bottle:
 *   prepare(spec) -> plan        pure-ish: resolves images, names, limits
 *   launch(plan)  -> Bottle      creates the runtime objects; the bottle idles
 *   Bottle.exec / execInteractive / execDetached   runs the agent and tools
 *   Freezer.commit(slug)         snapshots the running bottle (it keeps running)
 *   teardown(slug)               removes runtime objects (state stays if preserved)
 *   launch(plan) again           boots from the committed snapshot when present
 */
import type { Reporter } from './reporter.js';
import type { StateStore } from './state/store.js';
import type { AgentConfig, BottleConfig } from './manifest/schema.js';
import type { Freezer } from './freezer.js';

/**
 * Semantic version of this contract. Plugins declare the range they
 * implement (`"botBottle": { "contract": "^1.0.0" }`); the CLI refuses a
 * plugin whose range does not include this version.
 */
export const CONTRACT_VERSION = '1.0.0';

/** Prefix of every runtime object (container, VM, network) bot-bottle creates. */
export const RUNTIME_NAME_PREFIX = 'bot-bottle-';

/** Labels docker-like backends attach so bottles are found from the runtime, not from guesses. */
export const LABELS = {
  slug: 'dev.bot-bottle.slug',
  agent: 'dev.bot-bottle.agent',
  backend: 'dev.bot-bottle.backend',
  /** The agent user commands run as by default, so attach() knows it without guessing. */
  user: 'dev.bot-bottle.user',
  /** The agent's home, so attach() knows it without guessing. */
  home: 'dev.bot-bottle.home',
} as const;

export interface Availability {
  readonly available: boolean;
  /** Why the backend cannot run here (set when unavailable). */
  readonly reason?: string;
  /** The command or step that would make it available. */
  readonly fix?: string;
}

/** What a backend can do; the contract suite tests exactly what is declared. */
export interface BackendCapabilities {
  /** Commit a running bottle without stopping it. Every current backend: true. */
  readonly commitWhileRunning: boolean;
  /** Enforces a bottle's egress policy (see the egress issue). */
  readonly egressEnforcement: boolean;
  /** Snapshots keep file owners exactly (false when the runtime remaps them and the backend restores them). */
  readonly preservesOwnership: boolean;
}

/** Everything needed to launch one bottle, resolved from the manifest. */
export interface BottleSpec {
  readonly slug: string;
  readonly agentName: string;
  readonly agent: AgentConfig;
  readonly bottleName: string;
  readonly bottle: BottleConfig;
  /** Directory of the manifest file; relative paths in the manifest resolve against it. */
  readonly manifestDir: string;
  /** The user's working directory at start; copied in when the agent sets copyCwd. */
  readonly cwd: string;
}

/** A backend's prepared launch plan. Backends extend it with their own fields. */
export interface BottlePlan {
  readonly spec: BottleSpec;
  readonly backend: string;
  /** Runtime name of the bottle: `bot-bottle-<slug>`. */
  readonly runtimeName: string;
}

export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** `'agent'` (default) is the image's non-root user; `'root'` is uid 0. */
  readonly user?: 'agent' | 'root';
  readonly env?: Readonly<Record<string, string>>;
  readonly workdir?: string;
  /** Text written to the command's stdin. */
  readonly input?: string;
  readonly signal?: AbortSignal;
}

/** A handle on one running bottle. */
export interface Bottle {
  readonly slug: string;
  /** Runtime name (container or VM name). */
  readonly name: string;
  /** Run a command to completion and capture its output. Never throws for a non-zero exit. */
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Run a command attached to this terminal (stdin/stdout/stderr inherited); resolves to its exit code. */
  execInteractive(argv: readonly string[], options?: ExecOptions): Promise<number>;
  /** Start a command in the background inside the bottle; output goes to `logPath` inside the bottle. */
  execDetached(argv: readonly string[], options?: ExecOptions & { readonly logPath?: string }): Promise<void>;
}

/** A bottle found running on the runtime. */
export interface ActiveAgent {
  readonly slug: string;
  readonly agentName: string;
  readonly backend: string;
  readonly runtimeName: string;
  /** ISO 8601, from the state store when known. */
  readonly startedAt?: string;
}

/** Shared services a backend is constructed with. */
export interface BackendContext {
  readonly store: StateStore;
  readonly reporter: Reporter;
  /** Environment to read settings from (defaults to process.env). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface LaunchOptions {
  readonly signal?: AbortSignal;
}

export interface BottleBackend<P extends BottlePlan = BottlePlan> {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  availability(): Promise<Availability>;
  /** Resolve a spec into a plan. Touches no runtime objects. */
  prepare(spec: BottleSpec): Promise<P>;
  /**
   * Create and start the bottle, idle and ready for exec. Boots from the
   * committed snapshot recorded for the slug when it still exists (saying
   * so through the reporter); warns with code `snapshot-missing` and builds
   * normally when it is recorded but gone. On failure removes whatever it
   * created before rethrowing.
   */
  launch(plan: P, options?: LaunchOptions): Promise<Bottle>;
  /** A handle on an already running bottle, or undefined when none runs for the slug. */
  attach(slug: string): Promise<Bottle | undefined>;
  listActive(): Promise<ActiveAgent[]>;
  /** Remove the bottle's runtime objects. Idempotent. Never touches state files. */
  teardown(slug: string): Promise<void>;
  /** True when a committed reference still points at an existing snapshot. */
  snapshotExists(ref: string): Promise<boolean>;
}

/** The module a backend package exports as its default export. */
export interface BackendPlugin {
  readonly name: string;
  /** The CONTRACT_VERSION the plugin was built against. */
  readonly contractVersion: string;
  readonly capabilities: BackendCapabilities;
  createBackend(context: BackendContext): BottleBackend;
  createFreezer(context: BackendContext): Freezer;
}

/** Helper so plugin authors get type checking on their default export. */
export function defineBackendPlugin(plugin: BackendPlugin): BackendPlugin {
  return plugin;
}

/** The runtime name of a bottle. */
export function runtimeNameFor(slug: string): string {
  return `${RUNTIME_NAME_PREFIX}${slug}`;
}

/** The image/artifact name a committed snapshot of `slug` gets on image-based runtimes. */
export function committedImageFor(slug: string): string {
  return `${RUNTIME_NAME_PREFIX}committed-${slug}:latest`;
}
