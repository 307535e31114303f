/**
 * DockerFreezer: `docker commit` of the running container. The commit lands
 * on a unique pending tag first and is only then moved to the final name, so
 * a failed or interrupted commit never clobbers the previous snapshot.
 */
import { randomBytes } from 'node:crypto';
import {
  BotBottleError,
  committedImageFor,
  Freezer,
  LABELS,
  runtimeNameFor,
  type BackendContext,
  type FreezeContext,
} from '@bot-bottle/core';
import { BACKEND_NAME } from './plan.js';
import { DockerCli, lines } from './runtime.js';

/**
 * The `ENV` change that gives a snapshot the environment of the image the
 * container ran, undoing what launch added with `--env` (proxy variables,
 * the CA path): a resume whose manifest no longer declares egress must not
 * inherit a proxy that is gone. Docker cannot unset a variable in a commit,
 * so an added one is set empty, which HTTP clients read as "no proxy".
 * Undefined when nothing differs.
 */
export function restoreImageEnv(containerEnv: readonly string[], imageEnv: readonly string[]): string | undefined {
  const split = (entry: string): [string, string] => {
    const eq = entry.indexOf('=');
    return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
  };
  const original = new Map(imageEnv.map(split));
  // Values are literal: escape what the Dockerfile word parser would expand.
  const literal = (value: string): string => JSON.stringify(value).replace(/\$/g, '\\$');
  const restored = containerEnv
    .map(split)
    .filter(([key, value]) => key.length > 0 && original.get(key) !== value)
    .map(([key]) => `${key}=${literal(original.get(key) ?? '')}`);
  return restored.length > 0 ? `ENV ${restored.join(' ')}` : undefined;
}

export class DockerFreezer extends Freezer {
  readonly backendName = BACKEND_NAME;
  private readonly cli: DockerCli;

  constructor(context: BackendContext, cli?: DockerCli) {
    super(context);
    this.cli = cli ?? new DockerCli(context.env);
  }

  protected async freeze(context: FreezeContext): Promise<string> {
    const { slug, signal } = context;
    const name = runtimeNameFor(slug);
    const finalRef = committedImageFor(slug);
    // Each docker call costs tens of milliseconds and these three do not
    // depend on each other; the sweep only touches this slug's pending tags.
    const [state, , previous] = await Promise.all([
      this.cli.containerState(name),
      this.sweepStalePending(finalRef),
      this.cli.tryImageConfig(finalRef),
    ]);
    if (state === undefined) {
      throw new BotBottleError(`bottle ${slug} has no container (${name} does not exist); nothing to commit`, {
        hint: context.previousRef
          ? `the previous snapshot ${context.previousRef} is untouched; \`bot-bottle resume ${slug}\` boots from it`
          : `start it with \`bot-bottle resume ${slug}\` first`,
      });
    }
    if (!state.running) {
      throw new BotBottleError(`bottle ${slug} is not running (container ${name} is ${state.status}); nothing to commit`, {
        hint: context.previousRef
          ? `the previous snapshot ${context.previousRef} is untouched; \`bot-bottle resume ${slug}\` boots from it`
          : `run \`bot-bottle cleanup ${slug}\` and start it again`,
      });
    }
    const labels = state.labels;
    if (labels[LABELS.slug] !== slug || labels[LABELS.backend] !== BACKEND_NAME) {
      throw new BotBottleError(`container ${name} is not a bot-bottle docker bottle for ${slug}; refusing to commit it`);
    }

    // The container idles under an overridden entrypoint/cmd; put the
    // image's own back so the snapshot boots like the original image.
    const original = await this.cli.imageConfig(state.image);
    const changes: string[] = [];
    if (original.entrypoint !== null) changes.push(`ENTRYPOINT ${JSON.stringify(original.entrypoint)}`);
    if (original.cmd !== null) changes.push(`CMD ${JSON.stringify(original.cmd)}`);
    // The idle init runs as root; the snapshot keeps the image's own user.
    changes.push(`USER ${original.user.length > 0 ? original.user : '0'}`);
    // `docker run --env` (the egress proxy variables) lands in the
    // container's config and so in the snapshot; put the image's values back.
    const env = restoreImageEnv(state.env, original.env);
    if (env !== undefined) changes.push(env);
    // docker commit copies container labels into the image; blank ours so a
    // plain `docker run` of the snapshot is never mistaken for a bottle.
    changes.push(`LABEL ${[LABELS.slug, LABELS.agent, LABELS.backend, LABELS.user, LABELS.home].map((key) => `${key}=""`).join(' ')}`);

    const pendingRef = `${finalRef.replace(/:latest$/, '')}:pending-${randomBytes(4).toString('hex')}`;
    const previousId = previous?.id;
    const progress = context.reporter.progress(`committing ${name}`);
    let newId: string;
    try {
      // --pause=false: on Docker 20.10 with cgroup v1, a `docker exec` that
      // starts while the commit has the container frozen deadlocks the
      // engine (commit, exec and every later call on the container hang
      // until the freezer cgroup is thawed by hand). The agent keeps running
      // and its execs keep working; the price is that a file being written
      // at that very moment may be captured half-written.
      const committed = await this.cli.run(
        ['commit', '--pause=false', ...changes.flatMap((change) => ['--change', change]), name, pendingRef],
        { signal },
      );
      newId = committed.stdout.trim();
      if (signal.aborted) throw new BotBottleError(`commit of ${slug} was interrupted`);
      await this.cli.run(['tag', pendingRef, finalRef]);
    } catch (error) {
      progress.done('failed');
      await this.removePending(pendingRef, signal.aborted);
      throw error;
    }
    // The final tag has moved; dropping the pending one only untags, and
    // nothing waits on it (a leftover is swept by the next commit).
    this.cli.removeImageInBackground(pendingRef);
    // The replaced snapshot is dangling now. Deleting its layers can take
    // seconds, and nothing waits on it, so it happens in the background
    // (docker refuses if a container or a newer snapshot still needs it).
    if (previousId !== undefined && previousId !== newId) this.cli.removeImageInBackground(previousId);
    progress.done(`committed to ${finalRef}`);
    return finalRef;
  }

  /**
   * Remove the pending tag. After an interrupt the engine still finishes the
   * commit (killing the CLI does not cancel it) and tags it a moment later,
   * so watch for the tag for a few seconds. A tag that shows up even later
   * is swept by the next commit ({@link sweepStalePending}).
   */
  private async removePending(pendingRef: string, interrupted: boolean): Promise<void> {
    const deadline = Date.now() + (interrupted ? 10_000 : 0);
    for (;;) {
      try {
        if (await this.cli.imageExists(pendingRef)) {
          await this.cli.removeImage(pendingRef);
          if (!interrupted) return;
        }
      } catch {
        // best effort: the final tag is what matters and it is untouched
      }
      if (Date.now() >= deadline) return;
      await new Promise((done) => setTimeout(done, 250));
    }
  }

  /** Remove `pending-*` tags an earlier interrupted commit of this slug left behind. */
  private async sweepStalePending(finalRef: string): Promise<void> {
    const repository = finalRef.replace(/:latest$/, '');
    const listed = await this.cli.run(['image', 'ls', '--format', '{{.Tag}}', repository], { allowFailure: true });
    for (const tag of lines(listed.stdout)) {
      if (tag.startsWith('pending-')) await this.cli.removeImage(`${repository}:${tag}`);
    }
  }

  protected override exportHint(slug: string, ref: string): string | undefined {
    return `to move it to another machine: docker save ${ref} -o ${slug}.tar (then docker load -i ${slug}.tar there)`;
  }
}
