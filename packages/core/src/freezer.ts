import type { BackendContext } from './contract.js';
import { BotBottleError, CommitAborted } from './errors.js';
import type { Reporter } from './reporter.js';
import { assertValidSlug } from './slug.js';
import type { BottleMetadata, StateStore } from './state/store.js';

export interface FreezeContext {
  readonly slug: string;
  readonly metadata: BottleMetadata;
  /** The reference recorded by the previous commit, if any; a freeze must not damage it on failure. */
  readonly previousRef: string | undefined;
  readonly reporter: Reporter;
  readonly store: StateStore;
  /** Fires on Ctrl-C; a freeze stops, removes its temporary files and throws. */
  readonly signal: AbortSignal;
}

export interface CommitResult {
  readonly slug: string;
  readonly backend: string;
  /** What `committed-image` now holds: an image tag or an artifact path. */
  readonly ref: string;
  readonly resumeHint: string;
  readonly exportHint: string | undefined;
  readonly seconds: number;
}

export interface CommitOptions {
  readonly signal?: AbortSignal;
}

/**
 * Snapshot a running bottle. The template method {@link commit} owns every
 * step that is the same for all backends; a backend implements only
 * {@link freeze} (and optionally {@link exportHint}).
 */
export abstract class Freezer {
  abstract readonly backendName: string;

  constructor(protected readonly context: BackendContext) {}

  protected get store(): StateStore {
    return this.context.store;
  }

  protected get reporter(): Reporter {
    return this.context.reporter;
  }

  /**
   * 1. validate the slug and require its state (nothing is written for an unknown slug);
   * 2. take the per-slug lock;
   * 3. call the backend's freeze;
   * 4. record the committed reference atomically, mark the bottle preserved;
   * 5. print the resume hint and the backend's export hint.
   * A `CommitCancelled` thrown by the backend propagates for the CLI to exit 0.
   */
  async commit(slug: string, options: CommitOptions = {}): Promise<CommitResult> {
    assertValidSlug(slug);
    const metadata = await this.store.requireMetadata(slug);
    if (metadata.backend !== this.backendName) {
      throw new BotBottleError(`bottle ${slug} runs on backend ${metadata.backend}, not ${this.backendName}`);
    }
    const signal = options.signal ?? new AbortController().signal;
    const started = Date.now();
    return this.store.withLock(slug, async () => {
      const previousRef = await this.store.readCommittedRef(slug);
      let ref: string;
      try {
        ref = await this.freeze({ slug, metadata, previousRef, reporter: this.reporter, store: this.store, signal });
      } catch (error) {
        if (signal.aborted && !(error instanceof CommitAborted)) throw new CommitAborted(slug);
        throw error;
      }
      if (signal.aborted) throw new CommitAborted(slug);
      await this.store.writeCommittedRef(slug, ref);
      await this.store.markPreserved(slug);
      const resumeHint = `to resume from this snapshot: bot-bottle resume ${slug}`;
      const exportHint = this.exportHint(slug, ref);
      this.reporter.info(`committed ${slug} -> ${ref}`);
      this.reporter.info(resumeHint);
      if (exportHint) this.reporter.info(exportHint);
      return {
        slug,
        backend: this.backendName,
        ref,
        resumeHint,
        exportHint,
        seconds: (Date.now() - started) / 1000,
      };
    });
  }

  /** Take the snapshot of the running bottle; return the reference to record. */
  protected abstract freeze(context: FreezeContext): Promise<string>;

  /** How to move the snapshot to another host, if the backend has a way. */
  protected exportHint(_slug: string, _ref: string): string | undefined {
    return undefined;
  }
}
