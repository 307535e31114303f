/**
 * PodmanFreezer: `podman commit` of the running container (podman does not
 * pause it), onto a unique pending tag that is moved to the final name only
 * once the commit succeeded, so a failed or interrupted commit never touches
 * the previous snapshot.
 */
import { randomBytes } from 'node:crypto';
import { BotBottleError, committedImageFor, Freezer, LABELS, runtimeNameFor, type BackendContext, type FreezeContext } from '@bot-bottle/core';
import { BACKEND_NAME, HOME_LABEL, USER_LABEL } from './plan.js';
import { Podman } from './podman.js';

export class PodmanFreezer extends Freezer {
  readonly backendName = BACKEND_NAME;
  private readonly podman: Podman;

  constructor(context: BackendContext) {
    super(context);
    this.podman = new Podman(context.env);
  }

  protected async freeze(context: FreezeContext): Promise<string> {
    const { slug, signal } = context;
    const name = runtimeNameFor(slug);
    const state = await this.podman.container(name);
    if (!state?.running) {
      throw new BotBottleError(`bottle ${slug} is not running (${state ? `container ${name} is ${state.status}` : `no container ${name}`}); nothing to commit`, {
        hint: context.previousRef
          ? `the previous snapshot ${context.previousRef} is untouched; \`bot-bottle resume ${slug}\` boots from it`
          : `start it with \`bot-bottle resume ${slug}\` first`,
      });
    }
    if (state.labels[LABELS.slug] !== slug || state.labels[LABELS.backend] !== BACKEND_NAME) {
      throw new BotBottleError(`container ${name} is not a bot-bottle podman bottle for ${slug}; refusing to commit it`);
    }

    // The container idles under an overridden command; give the snapshot the image's own back.
    const original = await this.podman.imageConfig(state.image);
    const changes: string[] = [];
    if (original.entrypoint !== null) changes.push(`ENTRYPOINT ${JSON.stringify(original.entrypoint)}`);
    if (original.cmd !== null) changes.push(`CMD ${JSON.stringify(original.cmd)}`);
    changes.push(`USER ${original.user || '0'}`);
    // Container labels end up in the image; blank ours so a plain run of the snapshot is never taken for a bottle.
    for (const key of [LABELS.slug, LABELS.agent, LABELS.backend, USER_LABEL, HOME_LABEL]) changes.push(`LABEL ${key}=`);

    const finalRef = committedImageFor(slug);
    const pendingRef = `${finalRef.replace(/:latest$/, '')}:pending-${randomBytes(4).toString('hex')}`;
    const previousId = (await this.podman.imageExists(finalRef)) ? (await this.podman.imageConfig(finalRef)).id : undefined;
    const progress = context.reporter.progress(`committing ${name}`);
    try {
      await this.podman.run(['commit', '--quiet', '--pause=false', ...changes.flatMap((c) => ['--change', c]), name, pendingRef], { signal });
      if (signal.aborted) throw new BotBottleError(`commit of ${slug} was interrupted`);
      await this.podman.run(['tag', pendingRef, finalRef]);
    } catch (error) {
      progress.done('failed');
      await this.podman.removeImage(pendingRef);
      throw error;
    }
    await this.podman.removeImage(pendingRef);
    if (previousId !== undefined && (await this.podman.imageConfig(finalRef)).id !== previousId) {
      await this.podman.removeImage(previousId);
    }
    progress.done(`committed to ${finalRef}`);
    return finalRef;
  }

  protected override exportHint(slug: string, ref: string): string | undefined {
    return `to move it to another machine: podman save ${ref} -o ${slug}.tar (then podman load -i ${slug}.tar there)`;
  }
}
