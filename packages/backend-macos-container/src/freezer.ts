/**
 * MacosContainerFreezer: snapshot a running bottle without stopping it.
 *
 * Apple's container deletes a container the moment it stops, so
 * stop-then-export can never work. Instead the root filesystem streams out
 * of the running container (`container exec --user root NAME tar --create
 * --file=- --directory=/ .`), through core's tar filter on the host (which
 * empties /proc /sys /dev /run /tmp /var/tmp whatever tar the guest has),
 * into a temporary archive; an image is then built FROM scratch with that
 * archive and the original image's config (user, workdir, env, entrypoint,
 * cmd). The build lands on a pending tag and is only then moved to
 * `bot-bottle-committed-<slug>:latest`, so a failed or interrupted commit
 * leaves the previous snapshot in force and no archive behind.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  BotBottleError,
  committedImageFor,
  DEFAULT_SNAPSHOT_EXCLUDES,
  filterTar,
  Freezer,
  LABELS,
  runtimeNameFor,
  type BackendContext,
  type FreezeContext,
} from '@bot-bottle/core';
import { buildImage, ensureBuilderDns } from './builder.js';
import { BACKEND_NAME } from './plan.js';
import { ContainerCli, InterruptedError, tail, type ImageConfig } from './runtime.js';

/** tar's exit 1 means "some files changed while being read": normal for a live filesystem. */
export const TAR_OK_EXIT_CODES: readonly number[] = [0, 1];

/**
 * The argv that streams the container's root filesystem to stdout. The
 * guest tar skips the contents of kernel filesystems itself (reading /proc
 * fails and is pointless); the host filter is what guarantees the result.
 */
export function tarArgs(name: string): string[] {
  const skip = DEFAULT_SNAPSHOT_EXCLUDES.map((dir) => `--exclude=${dir}/*`);
  return ['exec', '--user', 'root', name, 'tar', '--create', '--file=-', '--directory=/', ...skip, '.'];
}

/** Dockerfile text: the archive as the only layer, plus the original image's config. */
export function snapshotDockerfile(config: ImageConfig, archive = 'rootfs.tar'): string {
  // Dockerfile ENV/WORKDIR/USER expand $VARS; keep values literal.
  const literal = (value: string): string => JSON.stringify(value).replace(/\$/g, '\\$');
  const lines = ['FROM scratch', `ADD ${archive} /`];
  for (const entry of config.env) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    lines.push(`ENV ${entry.slice(0, eq)}=${literal(entry.slice(eq + 1))}`);
  }
  if (config.workingDir) lines.push(`WORKDIR ${literal(config.workingDir)}`);
  if (config.user) lines.push(`USER ${config.user.replace(/\$/g, '\\$')}`);
  if (config.entrypoint !== null) lines.push(`ENTRYPOINT ${JSON.stringify(config.entrypoint)}`);
  if (config.cmd !== null) lines.push(`CMD ${JSON.stringify(config.cmd)}`);
  return `${lines.join('\n')}\n`;
}

export class MacosContainerFreezer extends Freezer {
  readonly backendName = BACKEND_NAME;
  private readonly cli: ContainerCli;

  constructor(context: BackendContext, cli?: ContainerCli) {
    super(context);
    this.cli = cli ?? new ContainerCli(context.env);
  }

  protected async freeze(context: FreezeContext): Promise<string> {
    const { slug, signal } = context;
    const name = runtimeNameFor(slug);
    const keepHint = context.previousRef
      ? `the previous snapshot ${context.previousRef} is untouched; \`bot-bottle resume ${slug}\` boots from it`
      : `start it with \`bot-bottle resume ${slug}\` first`;
    const snapshot = await this.cli.findContainer(name, true);
    if (snapshot === undefined) {
      throw new BotBottleError(
        `bottle ${slug} has no running container (${name}); Apple's container deletes a container when it stops, so there is nothing to commit`,
        { hint: keepHint },
      );
    }
    if (snapshot.status !== 'running') {
      throw new BotBottleError(`bottle ${slug} is not running (container ${name} is ${snapshot.status}); nothing to commit`, {
        hint: keepHint,
      });
    }
    const labels = snapshot.configuration.labels ?? {};
    if (labels[LABELS.slug] !== slug || labels[LABELS.backend] !== BACKEND_NAME) {
      throw new BotBottleError(`container ${name} is not a bot-bottle macos-container bottle for ${slug}; refusing to commit it`);
    }
    const sourceRef = snapshot.configuration.image?.reference;
    if (!sourceRef) throw new BotBottleError(`\`container list\` does not say which image ${name} runs`);

    const finalRef = committedImageFor(slug);
    const pendingRef = `${finalRef.replace(/:latest$/, '')}:pending-${randomBytes(4).toString('hex')}`;
    // Off the critical path: read the original config and check the builder while the filesystem streams.
    const originalConfig = this.cli.imageConfig(sourceRef);
    const builderChecked = ensureBuilderDns(this.cli, context.reporter, signal).catch(() => false);
    originalConfig.catch(() => undefined);
    const dir = await context.store.makeTempDir(`commit-${slug}`);
    let building = false;
    try {
      await this.streamRootfs(name, join(dir, 'rootfs.tar'), context);
      await writeFile(join(dir, 'Dockerfile'), snapshotDockerfile(await originalConfig));
      await builderChecked;
      if (signal.aborted) throw new InterruptedError(`commit of ${slug}`);

      building = true;
      const progress = context.reporter.progress(`building ${finalRef}`);
      const build = await buildImage(
        this.cli,
        context.reporter,
        { tag: pendingRef, dockerfile: join(dir, 'Dockerfile'), context: dir, checkBuilder: false },
        signal,
      );
      if (build.exitCode !== 0) {
        progress.done('failed');
        throw new BotBottleError(`building the snapshot image of ${slug} failed:\n${tail(`${build.stdout}\n${build.stderr}`, 25)}`, {
          hint: keepHint,
        });
      }
      if (signal.aborted) {
        progress.done('interrupted');
        throw new InterruptedError(`commit of ${slug}`);
      }
      // Only now does the final name move; the image it named before stays until `container image prune`.
      await this.cli.run(['image', 'tag', pendingRef, finalRef]);
      progress.done(`built ${finalRef}`);
    } catch (error) {
      if (building) await this.removePending(pendingRef, signal.aborted);
      throw error;
    } finally {
      await builderChecked;
      await rm(dir, { recursive: true, force: true });
    }
    await this.cli.deleteImage(pendingRef);
    return finalRef;
  }

  /** exec tar in the container -> filterTar -> file, with a bytes progress line. */
  private async streamRootfs(name: string, file: string, context: FreezeContext): Promise<void> {
    const { signal } = context;
    const progress = context.reporter.progress(`streaming the filesystem of ${name}`, 'bytes');
    if (signal.aborted) {
      progress.done('interrupted');
      throw new InterruptedError(`commit of ${context.slug}`);
    }
    const argv = tarArgs(name);
    const { child } = this.cli.spawn(argv, ['ignore', 'pipe', 'pipe']);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-16_384);
    });
    const exited = new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, sig) => resolve(code ?? (sig ? 128 + 15 : 1)));
    });
    const kill = (): void => {
      child.kill('SIGTERM');
    };
    signal.addEventListener('abort', kill, { once: true });
    const filter = filterTar(DEFAULT_SNAPSHOT_EXCLUDES, (stats) => progress.update(stats.bytes));
    try {
      const [, exitCode] = await Promise.all([
        pipeline(child.stdout!, filter.stream, createWriteStream(file), { signal }).catch((error: unknown) => {
          kill();
          throw error;
        }),
        exited,
      ]);
      if (signal.aborted) throw new InterruptedError(`commit of ${context.slug}`);
      if (!TAR_OK_EXIT_CODES.includes(exitCode)) {
        throw new BotBottleError(
          `\`container ${argv.join(' ')}\` failed with exit code ${exitCode}: ${tail(stderr, 20) || '<no stderr>'}`,
          { hint: context.previousRef ? `the previous snapshot ${context.previousRef} is untouched` : undefined },
        );
      }
      if (exitCode === 1) {
        context.reporter.warn(`some files of ${name} changed while they were copied; the snapshot has the state tar saw`, 'tar-files-changed');
      }
      progress.done(`streamed ${filter.stats.entries} entries`);
    } catch (error) {
      progress.done('failed');
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !signal.aborted) throw this.cli.notInstalled();
      if (signal.aborted) throw new InterruptedError(`commit of ${context.slug}`);
      throw error;
    } finally {
      signal.removeEventListener('abort', kill);
      await exited.catch(() => undefined);
    }
  }

  /** Remove the pending tag; after an interrupt the build may still land a moment later, so watch briefly. */
  private async removePending(pendingRef: string, interrupted: boolean): Promise<void> {
    const deadline = Date.now() + (interrupted ? 5_000 : 0);
    for (;;) {
      try {
        if (await this.cli.imageExists(pendingRef)) await this.cli.deleteImage(pendingRef);
      } catch {
        // best effort: the final tag is what matters, and it is untouched
      }
      if (Date.now() >= deadline) return;
      await new Promise((done) => setTimeout(done, 500));
    }
  }

  protected override exportHint(slug: string, ref: string): string | undefined {
    return `to move it to another Mac: container image save ${ref} -o ${slug}.tar (then container image load -i ${slug}.tar there)`;
  }
}
