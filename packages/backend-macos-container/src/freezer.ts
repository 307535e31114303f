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
import { closeSync, openSync, writeSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
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
  type ProgressHandle,
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
  // One ENV for all variables: a builder may spend a step on each
  // instruction (the classic Docker builder commits a container per step).
  // Values are literal, so no variable refers to another set alongside it.
  const env = config.env.flatMap((entry) => {
    const eq = entry.indexOf('=');
    return eq <= 0 ? [] : [`${entry.slice(0, eq)}=${literal(entry.slice(eq + 1))}`];
  });
  if (env.length > 0) lines.push(`ENV ${env.join(' \\\n    ')}`);
  if (config.workingDir) lines.push(`WORKDIR ${literal(config.workingDir)}`);
  if (config.user) lines.push(`USER ${config.user.replace(/\$/g, '\\$')}`);
  if (config.entrypoint !== null) lines.push(`ENTRYPOINT ${JSON.stringify(config.entrypoint)}`);
  if (config.cmd !== null) lines.push(`CMD ${JSON.stringify(config.cmd)}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The archive file as the last stage of the stream. Writes go straight to
 * the page cache (no thread-pool round trip per 64 KiB chunk, which on a
 * busy host costs more than the write itself), a megabyte at a time.
 */
function fileSink(file: string): Writable {
  let fd: number | undefined;
  const writeAll = (chunk: Buffer): void => {
    for (let offset = 0; offset < chunk.length; ) offset += writeSync(fd!, chunk, offset, chunk.length - offset);
  };
  const close = (): void => {
    if (fd === undefined) return;
    const open = fd;
    fd = undefined;
    closeSync(open);
  };
  return new Writable({
    highWaterMark: 1 << 20,
    construct(callback) {
      try {
        fd = openSync(file, 'w');
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    write(chunk: Buffer, _encoding, callback) {
      try {
        writeAll(chunk);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    writev(chunks, callback) {
      try {
        writeAll(chunks.length === 1 ? (chunks[0]!.chunk as Buffer) : Buffer.concat(chunks.map((c) => c.chunk as Buffer)));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    final(callback) {
      try {
        close();
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    destroy(error, callback) {
      try {
        close();
      } catch {
        // the stream is failing already
      }
      callback(error);
    },
  });
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
    // The check (`container list`) runs while the filesystem already streams: the exec is read-only,
    // and a failed check stops the stream and wins over whatever the exec said.
    const checked = this.checkContainer(slug, name, keepHint);
    checked.catch(() => undefined);

    const finalRef = committedImageFor(slug);
    const pendingRef = `${finalRef.replace(/:latest$/, '')}:pending-${randomBytes(4).toString('hex')}`;
    let originalConfig: Promise<ImageConfig> | undefined;
    let builderChecked: Promise<boolean> | undefined;
    // Off the critical path, once the container is known good: read the original config and check the builder.
    const ready = checked.then((sourceRef) => {
      originalConfig = this.cli.imageConfig(sourceRef);
      originalConfig.catch(() => undefined);
      builderChecked = ensureBuilderDns(this.cli, context.reporter, signal).catch(() => false);
    });
    ready.catch(() => undefined);
    let dir: string;
    try {
      dir = await context.store.makeTempDir(`commit-${slug}`);
    } catch (error) {
      await checked; // a failed check is the clearer error
      throw error;
    }
    let building = false;
    try {
      await this.streamRootfs(name, join(dir, 'rootfs.tar'), context, ready);
      await writeFile(join(dir, 'Dockerfile'), snapshotDockerfile(await originalConfig!));
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
    // The final tag is in place and names the same image: dropping the pending
    // tag is tidying-up nobody needs to wait for.
    this.cli.detached(['image', 'delete', pendingRef]);
    return finalRef;
  }

  /** The running container of the bottle, checked to be ours; resolves to the image it runs. */
  private async checkContainer(slug: string, name: string, keepHint: string): Promise<string> {
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
    return sourceRef;
  }

  /**
   * exec tar in the container -> filterTar -> file, with a bytes progress
   * line. The stream starts at once; `checked` is the container check
   * running alongside: when it fails, the stream stops and its error is
   * thrown, and nothing is reported before it passed.
   */
  private async streamRootfs(name: string, file: string, context: FreezeContext, checked: Promise<void>): Promise<void> {
    const { signal } = context;
    if (signal.aborted) {
      await checked;
      context.reporter.progress(`streaming the filesystem of ${name}`, 'bytes').done('interrupted');
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
    exited.catch(() => undefined);
    const kill = (): void => {
      child.kill('SIGTERM');
    };
    const stop = new AbortController();
    const streamSignal = AbortSignal.any([signal, stop.signal]);
    streamSignal.addEventListener('abort', kill, { once: true });
    let progress: ProgressHandle | undefined;
    const filter = filterTar(DEFAULT_SNAPSHOT_EXCLUDES, (stats) => progress?.update(stats.bytes));
    const streamed = Promise.all([
      pipeline(child.stdout!, filter.stream, fileSink(file), { signal: streamSignal }).catch((error: unknown) => {
        kill();
        throw error;
      }),
      exited,
    ]);
    streamed.catch(() => undefined);
    try {
      try {
        await checked;
      } catch (error) {
        stop.abort();
        await streamed.catch(() => undefined);
        throw error;
      }
      progress = context.reporter.progress(`streaming the filesystem of ${name}`, 'bytes');
      try {
        if (filter.stats.bytes > 0) progress.update(filter.stats.bytes);
        const [, exitCode] = await streamed;
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
      }
    } finally {
      streamSignal.removeEventListener('abort', kill);
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
