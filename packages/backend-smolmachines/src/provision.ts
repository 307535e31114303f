/**
 * What runs inside the VM around boot and commit, as shell scripts passed
 * to one `machine exec` each (back-to-back execs right after start are what
 * the exec channel handles worst).
 */
import { BotBottleError, DEFAULT_SNAPSHOT_EXCLUDES } from '@bot-bottle/core';
import { KILLED_EXIT_CODE } from './bottle.js';
import type { MachineExecOptions, SmolvmCli, SmolvmResult } from './smolvm.js';

/**
 * Where a commit records every path's owner (`uid:gid mode path` per line)
 * inside the VM. It travels inside the snapshot, so a copied `.smolmachine`
 * carries it along, and boot restores owners from it.
 */
export const OWNERS_MANIFEST = '/var/lib/bot-bottle/owners';
/** Where launch copies a fresh image's owners manifest (computed on the host) for init; init removes it. */
export const IMAGE_OWNERS_UPLOAD = '/.bot-bottle-image-owners';

/** Directories whose contents a snapshot leaves out: core's list, as absolute paths. */
export const SNAPSHOT_EXCLUDED_DIRS: readonly string[] = DEFAULT_SNAPSHOT_EXCLUDES.map((p) => `/${p.replace(/^\.?\/*/, '')}`);

/** Single-quote for sh. */
export function shQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The boot-time initialisation, as root:
 * - /tmp and /var/tmp exist, root-owned, mode 1777 (a snapshot leaves their contents out);
 * - when the snapshot carries an owners manifest, every listed path gets its
 *   recorded owner back (the packer may have handed everything to one uid),
 *   and setuid/setgid modes that chown clears are put back;
 * - otherwise (a fresh image) the agent's home is given to the agent user;
 * - the home directory itself is owned by the agent user.
 */
export function initScript(user: string, home: string, manifest: string = OWNERS_MANIFEST): string {
  const u = shQuote(user);
  const h = shQuote(home);
  const m = shQuote(manifest);
  const prune = SNAPSHOT_EXCLUDED_DIRS.map((d) => `-path ${shQuote(d)}`).join(' -o ');
  return [
    'set -e',
    'mkdir -p /tmp /var/tmp',
    `if [ -s ${m} ]; then`,
    '  work=$(mktemp -d /var/tmp/.bot-bottle-init.XXXXXX)',
    // What the filesystem says now, in the manifest's format.
    `  find / \\( ${prune} \\) -prune -o -print0 2>/dev/null | xargs -0 -r stat -c '%u:%g %a %n' > "$work/current" 2>/dev/null || true`,
    // Paths whose owner differs from the recorded one, one list per wanted owner;
    // chown clears setuid/setgid, so the special modes to put back go to "modes".
    `  awk -v dir="$work" '{ o = $1; md = $2; p = substr($0, length($1) + length($2) + 3) }
      NR == FNR { wo[p] = o; wm[p] = md; next }
      (p in wo) && wo[p] != o { print p > (dir "/own." wo[p]); if (length(wm[p]) == 4 && substr(wm[p], 1, 1) != "0") print wm[p] " " p > (dir "/modes") }' ${m} "$work/current"`,
    '  for list in "$work"/own.*; do',
    '    [ -e "$list" ] || continue',
    '    tr \'\\n\' \'\\000\' < "$list" | xargs -0 -r chown -h "${list##*/own.}" 2>/dev/null || true',
    '  done',
    '  if [ -s "$work/modes" ]; then while IFS=\' \' read -r mode path; do chmod "$mode" "$path" 2>/dev/null || true; done < "$work/modes"; fi',
    '  rm -rf "$work"',
    ...(manifest !== OWNERS_MANIFEST ? [`  rm -f ${m}`] : []),
    'else',
    `  if [ -d ${h} ]; then chown -R ${u}: ${h}; fi`,
    'fi',
    `mkdir -p ${h}`,
    `chown ${u}: ${h}`,
    'chown root:root /tmp /var/tmp',
    'chmod 1777 /tmp /var/tmp',
  ].join('\n');
}

/**
 * The commit-time script, as root: record the owners manifest, then have
 * tar write a gzip archive of / to `archive` (a file inside the VM: the
 * exec channel never carries the archive). Exits with tar's exit code.
 */
export function snapshotScript(archive: string): string {
  const prune = SNAPSHOT_EXCLUDED_DIRS.map((d) => `-path ${shQuote(d)}`).join(' -o ');
  const excludes = SNAPSHOT_EXCLUDED_DIRS.map((d) => `--exclude=${shQuote(`.${d}/*`)}`).join(' ');
  const m = shQuote(OWNERS_MANIFEST);
  const pending = shQuote(`${archive}.owners`);
  return [
    'umask 022',
    `mkdir -p ${shQuote(OWNERS_MANIFEST.replace(/\/[^/]+$/, ''))}`,
    // Contents of the excluded directories are pruned; the directories themselves are listed.
    `find / \\( ${prune} \\) -prune -o -print0 2>/dev/null | xargs -0 -r stat -c '%u:%g %a %n' > ${pending} 2>/dev/null || true`,
    `for d in ${SNAPSHOT_EXCLUDED_DIRS.map(shQuote).join(' ')}; do [ -e "$d" ] && stat -c '%u:%g %a %n' "$d" >> ${pending} 2>/dev/null; done; true`,
    `mv -f ${pending} ${m}`,
    'rc=0',
    `tar --create --gzip --numeric-owner --file=${shQuote(archive)} --directory=/ ${excludes} . || rc=$?`,
    'exit $rc',
  ].join('\n');
}

export interface ProvisionOptions extends MachineExecOptions {
  readonly signal?: AbortSignal;
}

/**
 * Run an exec during early provisioning, once more when it was killed
 * (exit 137): the VM's agent sometimes kills the first execs after boot.
 */
export async function execRetryingKilled(
  cli: SmolvmCli,
  name: string,
  argv: readonly string[],
  options: ProvisionOptions = {},
): Promise<SmolvmResult> {
  const first = await cli.machineExec(name, argv, options);
  if (first.exitCode !== KILLED_EXIT_CODE) return first;
  return cli.machineExec(name, argv, options);
}

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Delay before the first retry; doubles up to 1 s. */
  readonly initialDelayMs?: number;
}

/**
 * Poll `machine exec -- true` until it succeeds: the exec channel needs a
 * moment after `machine start`. Returns how many probes it took.
 */
export async function waitExecReady(cli: SmolvmCli, name: string, options: WaitOptions = {}): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let delay = options.initialDelayMs ?? 50;
  let attempts = 0;
  let last: SmolvmResult | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    attempts += 1;
    last = await cli.machineExec(name, ['true'], options.signal ? { signal: options.signal } : {});
    if (last.exitCode === 0) return attempts;
    if (Date.now() + delay > deadline) break;
    await new Promise((done) => setTimeout(done, delay));
    delay = Math.min(delay * 2, 1000);
  }
  throw new BotBottleError(
    `the exec channel of ${name} did not answer within ${Math.round(timeoutMs / 1000)} s (last exit ${last.exitCode}: ${last.stderr.trim() || '<no stderr>'})`,
    { hint: `the VM may have failed to boot; see \`${cli.binary} machine ls\`` },
  );
}
