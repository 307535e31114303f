/**
 * SmolmachinesFreezer: snapshot a running VM without stopping it.
 *
 * `pack create --from-vm` wants a stopped VM, and stopping ends the user's
 * session (the real smolvm even deletes the machine), so instead:
 *   1. probe the exec channel (`true`), so a refused concurrent exec is a clear error;
 *   2. inside the VM, record every path's owner and have tar write a gzip
 *      archive of / to a file in /var/tmp (the exec channel never carries it);
 *   3. `machine cp` the archive out, and always delete it inside the VM;
 *   4. on the host, rebuild an OCI image from it (core's filterTar, the
 *      original image's config), serve it on a short-lived 127.0.0.1
 *      endpoint and `pack create --image` it into pending files;
 *   5. rename the pending `.smolmachine` into `state/<slug>/` only on success.
 * A failure or an interrupt leaves the previous snapshot in force.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AutoGunzip,
  BotBottleError,
  buildImageFromRootfs,
  DEFAULT_SNAPSHOT_EXCLUDES,
  filterTar,
  Freezer,
  runtimeNameFor,
  type BackendContext,
  type FreezeContext,
} from '@bot-bottle/core';
import { installPacked, packFromLayout } from './artifact.js';
import { BACKEND_NAME } from './plan.js';
import { snapshotScript } from './provision.js';
import { SmolvmCli, vmPath } from './smolvm.js';
import { COMMITTED_BASENAME, readBackendState } from './state.js';

/** Where the in-VM archive is written: on disk (unlike a tmpfs /tmp), excluded from itself. */
export function inVmArchivePath(): string {
  return `/var/tmp/.bot-bottle-commit-${randomBytes(6).toString('hex')}.tar.gz`;
}

export class SmolmachinesFreezer extends Freezer {
  readonly backendName = BACKEND_NAME;
  readonly cli: SmolvmCli;

  constructor(context: BackendContext, cli?: SmolvmCli) {
    super(context);
    this.cli = cli ?? new SmolvmCli(context.env);
  }

  protected async freeze(ctx: FreezeContext): Promise<string> {
    const { slug, signal, reporter, store } = ctx;
    const name = runtimeNameFor(slug);
    const cli = this.cli;
    const sig = { signal };

    // 1. The exec channel answers (and is not refused while a session runs).
    const probe = await cli.machineExec(name, ['true'], sig);
    if (probe.exitCode !== 0) {
      const detail = probe.stderr.trim() || probe.stdout.trim() || '<no output>';
      throw new BotBottleError(`cannot exec into ${name} to commit it (exit ${probe.exitCode}): ${detail}`, {
        hint: /concurrent|busy|already|in use/i.test(detail)
          ? 'smolvm refused a second exec while another one (an interactive session?) is attached; end it or retry when it is idle'
          : `is the bottle running? \`${cli.binary} machine ls\``,
      });
    }

    const state = await readBackendState(store, slug);
    const tmp = await store.makeTempDir(`smolmachines-commit-${slug}`);
    const archive = inVmArchivePath();
    try {
      // 2. Owners manifest + gzip tar, written inside the VM.
      const tarring = reporter.progress(`archiving ${name}`);
      const tar = await cli.machineExec(name, ['sh', '-c', snapshotScript(archive)], sig);
      signal.throwIfAborted();
      // tar exits 1 when files changed while it read them: normal on a live system.
      if (tar.exitCode > 1) {
        tarring.done('failed');
        throw new BotBottleError(`tar inside ${name} failed (exit ${tar.exitCode}): ${tar.stderr.trim() || '<no stderr>'}`);
      }
      if (tar.exitCode === 1) {
        reporter.warn(`some files in ${name} changed while they were archived; the snapshot has the version tar read`, 'tar-files-changed');
      }
      tarring.done();

      // 3. Copy it out (the in-VM copy goes in the finally below).
      const hostArchive = join(tmp, 'rootfs.tar.gz');
      const copying = reporter.progress(`copying the archive out of ${name}`, 'bytes');
      await cli.machineCp(vmPath(name, archive), hostArchive, sig);
      copying.done(`${(await stat(hostArchive)).size} bytes`);
      signal.throwIfAborted();

      // 4. Rebuild an OCI image from it, no Docker involved.
      const layout = join(tmp, 'layout');
      const building = reporter.progress('building the snapshot image', 'bytes');
      const filter = filterTar(DEFAULT_SNAPSHOT_EXCLUDES);
      const tag = `committed-${slug}`;
      const filtered = new PassThrough();
      // Both ends run together; a failure on either side fails the other.
      await Promise.all([
        pipeline(createReadStream(hostArchive), new AutoGunzip(), filter.stream, filtered, { signal }),
        buildImageFromRootfs({
          layoutDir: layout,
          rootfs: filtered,
          config: state?.imageConfig ?? {},
          tag,
          gzip: true,
          onProgress: (bytes) => building.update(bytes),
          signal,
        }),
      ]);
      building.done(`${filter.stats.entries} entries`);

      const packing = reporter.progress(`packing ${name} into a .smolmachine`);
      const pendingBase = join(tmp, COMMITTED_BASENAME);
      await packFromLayout(cli, layout, tag, pendingBase, { signal, repository: `bot-bottle/committed-${slug}` });
      packing.done();
      signal.throwIfAborted();

      // 5. Into place, atomically, only now.
      await mkdir(store.dir(slug), { recursive: true });
      return await installPacked(pendingBase, join(store.dir(slug), COMMITTED_BASENAME));
    } finally {
      const cleanup = await cli.machineExec(name, ['rm', '-f', archive]).catch((error: unknown) => ({
        exitCode: -1,
        stdout: '',
        stderr: (error as Error).message,
      }));
      if (cleanup.exitCode !== 0) {
        reporter.warn(`could not delete ${archive} inside ${name}: ${cleanup.stderr.trim()}`, 'cleanup-failed');
      }
      await rm(tmp, { recursive: true, force: true });
    }
  }

  protected override exportHint(slug: string, ref: string): string {
    return `to export for migration: cp ${ref} ${slug}.smolmachine`;
  }
}
