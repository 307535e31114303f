import type { BackendPlugin } from '../contract.js';
import type { BottleConfig } from '../manifest/schema.js';

/** The image the suite boots, and what it knows about its agent user. */
export interface ContractFixture {
  /**
   * The manifest's bottle entry, exactly as a user would write it (after
   * schema defaults): `backend` must be the plugin's name, and exactly one of
   * `image` or `dockerfile`.
   */
  readonly bottle: BottleConfig;
  /** Name of the non-root agent user inside the bottle, e.g. `node`. */
  readonly agentUser: string;
  /** Its numeric uid, e.g. 1000. */
  readonly agentUid: number;
  /** Its home directory, e.g. `/home/node`. */
  readonly agentHome: string;
  /** Directory that relative `dockerfile`/`context` paths resolve against (default: a fresh empty directory). */
  readonly manifestDir?: string;
}

/** What the suite did, handed to {@link ContractHarness.cleanup}. */
export interface ContractCleanupInfo {
  /** Temporary BOT_BOTTLE_HOME (removed right after `cleanup` returns). */
  readonly home: string;
  /** Every slug the suite launched. They have been torn down already. */
  readonly slugs: readonly string[];
  /** Every snapshot reference a commit returned. Those `snapshotExists` still saw have been passed to `deleteSnapshot` already. */
  readonly refs: readonly string[];
}

/** Everything a backend package gives the contract suite. */
export interface ContractHarness {
  /** Shown in the test names, e.g. `docker (real engine)` or `macos-container (emulator)`. */
  readonly title: string;
  /** The backend package's default export. */
  readonly plugin: BackendPlugin;
  /** Settings passed to the backend as `BackendContext.env`, merged over `process.env` (BOT_BOTTLE_HOME is always the suite's). */
  readonly env?: Readonly<Record<string, string>>;
  readonly fixture: ContractFixture;
  /**
   * Remove the committed artifact behind `ref` (`docker image rm`, `rm` of
   * an artifact file) the way a user or a cleanup job would. Used by the
   * "snapshot gone" case and to clean up after the run. Must succeed for a
   * ref that exists; may be called for one that is already gone.
   */
  deleteSnapshot(ref: string): Promise<void>;
  /** Extra cleanup after the suite tore its bottles down and deleted its snapshots (e.g. runtime caches). */
  cleanup?(info: ContractCleanupInfo): Promise<void>;
  /** Timeout of every case and hook in milliseconds (default 5 minutes). */
  readonly timeoutMs?: number;
  /** Parent directory of the temporary BOT_BOTTLE_HOME (default `os.tmpdir()`). */
  readonly tempDir?: string;
  /**
   * The interrupted-commit case aborts on the freeze's first reporter call,
   * or this many milliseconds after the freeze started, whichever is first
   * (default 200).
   */
  readonly abortDelayMs?: number;
}

export const DEFAULT_CASE_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_ABORT_DELAY_MS = 200;

/** The agent name every contract bottle runs under; slugs are `contract-xxxxx`. */
export const CONTRACT_AGENT_NAME = 'contract';
/** The bottle name in the suite's virtual manifest. */
export const CONTRACT_BOTTLE_NAME = 'contract';
/** The suite's agent: a shell template that idles. */
export const CONTRACT_AGENT_COMMAND: readonly string[] = ['sleep', 'infinity'];
