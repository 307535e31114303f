/**
 * Snapshots. The Freezer base class (the template method `commit`)
 * validates the slug, takes the per-slug lock, records the ref you return,
 * marks the bottle preserved and prints the hints; you implement `freeze`.
 */
import { BotBottleError, Freezer, type FreezeContext } from '@bot-bottle/core';

export const BACKEND_NAME = '__BACKEND_NAME__';

export class __CLASS__Freezer extends Freezer {
  readonly backendName = BACKEND_NAME;

  /**
   * Snapshot the running bottle of `context.slug` (it keeps running when
   * capabilities.commitWhileRunning) and return the reference to record.
   * Stop and clean up when `context.signal` fires; never damage
   * `context.previousRef` on failure.
   */
  protected async freeze(context: FreezeContext): Promise<string> {
    throw new BotBottleError(`backend ${BACKEND_NAME}: commit of ${context.slug} is not implemented yet`);
  }

  /** How to move a snapshot to another machine (the contract suite requires one). */
  protected override exportHint(slug: string, ref: string): string | undefined {
    return `TODO: tell the user how to move ${ref} (bottle ${slug}) to another machine`;
  }
}
