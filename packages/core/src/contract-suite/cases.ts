import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import type { ActiveAgent, BackendCapabilities, Bottle } from '../contract.js';
import { CONTRACT_VERSION, runtimeNameFor } from '../contract.js';
import { InvalidSlugError, UnknownSlugError } from '../errors.js';
import type { CommitResult } from '../freezer.js';
import { PARSE_CONTEXT } from '../parse-context.js';
import { bottleSchema } from '../manifest/schema.js';
import { generateSlug } from '../slug.js';
import {
  ContractViolation,
  check,
  checkEqual,
  describeCommand,
  describeError,
  describeResult,
  errorName,
  fail,
  isBotBottleErrorLike,
  isErrorOf,
  show,
} from './assert.js';
import { CONTRACT_AGENT_NAME } from './harness.js';
import { listTree } from './probes.js';
import type { ContractRun } from './run.js';

/** One step of the contract. Cases run in order against one bottle. */
export interface ContractCase {
  readonly id: number;
  /** Short name; some depend on the declared capabilities. */
  title(capabilities: BackendCapabilities): string;
  /** Cases whose success this one builds on; when one did not pass, this one fails saying so. */
  readonly needs: readonly number[];
  run(run: ContractRun): Promise<void>;
}

/** Size of the large file that must survive a commit byte for byte. */
export const BIG_FILE_SIZE = 5 * 1024 * 1024;
/** Files an agent leaves in /tmp and /var/tmp; a resumed bottle must not have them. */
export const STALE_FILES = ['/tmp/stale-x', '/var/tmp/stale-y'] as const;
/** Where the execDetached check writes its log (also a stale file after resume). */
export const DETACHED_LOG = '/tmp/bot-bottle-contract-detached.log';
/** Owned by 4242:4243 before the commit; checked only when the backend declares preservesOwnership. */
export const OWNED_FILE = '/opt/bot-bottle-contract/owned-by-4242';
/** Files the core itself keeps in a state directory. */
export const CORE_STATE_FILES = ['metadata.json', 'committed-image', 'preserved'] as const;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Shell-quote one word. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}

/** Resolve `promise`, or fail with `message` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, message: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ContractViolation(typeof message === 'function' ? message() : message)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `probe` until it returns true, or fail with `message()` after `ms`. */
async function eventually(probe: () => Promise<boolean>, ms: number, message: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  let delay = 100;
  for (;;) {
    if (await probe()) return;
    if (Date.now() >= deadline) fail(message());
    await sleep(delay);
    delay = Math.min(delay * 2, 1000);
  }
}

async function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

function findActive(active: readonly ActiveAgent[], slug: string): ActiveAgent | undefined {
  return active.find((agent) => agent.slug === slug);
}

async function listActive(run: ContractRun, what: string): Promise<ActiveAgent[]> {
  let active: ActiveAgent[];
  try {
    active = await run.backend.listActive();
  } catch (error) {
    fail(`${what}: listActive() threw`, error);
  }
  check(Array.isArray(active), `${what}: listActive() resolved to ${show(active)}, not an array`);
  return active;
}

async function attach(run: ContractRun, slug: string, what: string): Promise<Bottle | undefined> {
  try {
    return await run.backend.attach(slug);
  } catch (error) {
    fail(`${what}: attach(${slug}) threw (it resolves to undefined when no bottle runs)`, error);
  }
}

async function snapshotExists(run: ContractRun, ref: string, what: string): Promise<boolean> {
  let exists: boolean;
  try {
    exists = await run.backend.snapshotExists(ref);
  } catch (error) {
    fail(`${what}: snapshotExists(${ref}) threw`, error);
  }
  check(typeof exists === 'boolean', `${what}: snapshotExists(${ref}) resolved to ${show(exists)}, not a boolean`);
  return exists;
}

function expectedBigFile(line: string): Buffer {
  const unit = Buffer.from(`${line}\n`);
  const buffer = Buffer.alloc(BIG_FILE_SIZE);
  for (let offset = 0; offset < BIG_FILE_SIZE; offset += unit.length) unit.copy(buffer, offset);
  return buffer;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function sha256InBottle(run: ContractRun, path: string, what: string): Promise<string> {
  const result = await run.exec(['sha256sum', path], { what });
  if (result.exitCode !== 0) {
    fail(
      `${what}: ${describeCommand(['sha256sum', path])} failed (the fixture image needs sha256sum)\n  ${describeResult(result)}`,
    );
  }
  const digest = result.stdout.trim().split(/\s+/)[0] ?? '';
  check(/^[0-9a-f]{64}$/.test(digest), `${what}: sha256sum printed ${show(result.stdout)}, not a digest`);
  return digest;
}

/** `stat -c <format> <path>` in the bottle, trimmed. */
async function statIn(run: ContractRun, format: string, path: string, what: string): Promise<string> {
  return (await run.run(['stat', '-c', format, path], { what, user: 'root' })).trim();
}

async function listDirIn(run: ContractRun, dir: string, what: string): Promise<string[]> {
  const out = await run.run(['ls', '-A', dir], { what, user: 'root' });
  return out.split('\n').map((line) => line.trim()).filter(Boolean);
}

function notePath(run: ContractRun): string {
  return `${run.agentHome}/work/note.txt`;
}

function bigPath(run: ContractRun): string {
  return `${run.agentHome}/work/big.bin`;
}

/** teardown(slug), failing the case if it throws; the run no longer holds a bottle. */
async function tearDownBottle(run: ContractRun, slug: string): Promise<void> {
  try {
    await run.backend.teardown(slug);
  } catch (error) {
    fail(`teardown(${slug}) threw`, error);
  }
  run.bottle = undefined;
}

function requireCommit(run: ContractRun): CommitResult {
  const commit = run.facts.firstCommit;
  if (!commit) fail('no commit result recorded: case 5 did not get that far');
  return commit;
}

/** The temporary area must be gone or empty after a commit settled. */
async function checkNoTempFiles(run: ContractRun, what: string): Promise<void> {
  const left = await listTree(run.store.tempRoot);
  check(
    left === undefined || left.length === 0,
    () =>
      `${what}: temporary files were left in ${run.store.tempRoot} (a freeze removes its temporary files, also when it fails):\n    ${(left ?? []).slice(0, 20).join('\n    ')}`,
  );
}

/** Files that appeared in the state directory since `before`, apart from the ones core writes. */
async function checkNoStrayStateFiles(run: ContractRun, before: readonly string[], what: string): Promise<void> {
  const after = (await listTree(run.store.dir(run.slug))) ?? [];
  const known = new Set<string>([...before, ...CORE_STATE_FILES]);
  const stray = after.filter((path) => !known.has(path));
  check(
    stray.length === 0,
    () =>
      `${what}: new files appeared in the state directory ${run.store.dir(run.slug)} (only ${CORE_STATE_FILES.join(', ')} and what the backend kept before may be there):\n    ${stray.join('\n    ')}`,
  );
}

async function stateRootEntries(run: ContractRun): Promise<string[]> {
  try {
    return (await readdir(run.store.stateRoot)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** The bottle answers exec as the agent, with the agent's uid. */
async function checkAnswers(run: ContractRun, what: string): Promise<void> {
  const bottle = await run.ensureRunning(what);
  const uid = (await run.run(['id', '-u'], { what }, bottle)).trim();
  checkEqual(uid, String(run.harness.fixture.agentUid), `${what}: \`id -u\` as the agent`);
}

const case1: ContractCase = {
  id: 1,
  title: () => 'the plugin is well formed and availability() reports the backend available',
  needs: [],
  async run(run) {
    const { plugin, fixture } = run.harness;
    check(typeof plugin.name === 'string' && plugin.name.length > 0, `plugin.name is ${show(plugin.name)}`);
    const [major] = String(plugin.contractVersion).split('.');
    check(
      major === CONTRACT_VERSION.split('.')[0],
      `plugin.contractVersion is ${show(plugin.contractVersion)}, not compatible with this suite's contract ${CONTRACT_VERSION}`,
    );
    const parsed = bottleSchema.safeParse(fixture.bottle, PARSE_CONTEXT);
    check(parsed.success, () => `harness fixture.bottle is not a valid bottle entry: ${parsed.error?.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    checkEqual(parsed.data.backend, plugin.name, 'harness fixture.bottle.backend (must name the plugin under test)');
    check(
      Number.isInteger(fixture.agentUid) && fixture.agentUid > 0,
      `harness fixture.agentUid is ${show(fixture.agentUid)}; the agent must be a non-root user`,
    );
    check(fixture.agentHome.startsWith('/'), `harness fixture.agentHome ${show(fixture.agentHome)} is not absolute`);
    for (const key of ['commitWhileRunning', 'egressEnforcement', 'preservesOwnership'] as const) {
      check(typeof plugin.capabilities?.[key] === 'boolean', `plugin.capabilities.${key} is ${show(plugin.capabilities?.[key])}, not a boolean`);
    }

    let services: ReturnType<ContractRun['createServices']>;
    try {
      services = run.createServices();
    } catch (error) {
      fail('plugin.createBackend(context) or plugin.createFreezer(context) threw', error);
    }
    const { backend, freezer } = services;
    checkEqual(backend.name, plugin.name, 'backend.name');
    checkEqual(freezer.backendName, plugin.name, 'freezer.backendName (commit refuses bottles of other backends)');
    for (const key of ['commitWhileRunning', 'egressEnforcement', 'preservesOwnership'] as const) {
      checkEqual(backend.capabilities?.[key], plugin.capabilities[key], `backend.capabilities.${key} (must equal plugin.capabilities.${key})`);
    }

    let availability: Awaited<ReturnType<typeof backend.availability>>;
    try {
      availability = await backend.availability();
    } catch (error) {
      fail('availability() threw; it reports problems as { available: false, reason, fix }', error);
    }
    if (!availability?.available) {
      fail(
        `backend ${plugin.name} reports it is not available here\n  reason: ${availability?.reason ?? '<none given>'}\n  fix: ${availability?.fix ?? '<none given>'}`,
      );
    }
  },
};

const case2: ContractCase = {
  id: 2,
  title: () => 'prepare + launch from the fixture return a Bottle named bot-bottle-<slug>',
  needs: [1],
  async run(run) {
    const { slug } = run;
    await run.writeStartMetadata();
    const plan = await run.prepare('prepare');
    checkEqual(plan.runtimeName, runtimeNameFor(slug), 'plan.runtimeName');
    checkEqual(plan.backend, run.harness.plugin.name, 'plan.backend');
    checkEqual(plan.spec?.slug, slug, 'plan.spec.slug');

    // prepare touches no runtime objects.
    check(
      (await attach(run, slug, 'after prepare')) === undefined,
      `attach(${slug}) found a bottle after prepare() alone: prepare must not create runtime objects`,
    );
    check(
      !findActive(await listActive(run, 'after prepare'), slug),
      `listActive() lists ${slug} after prepare() alone: prepare must not create runtime objects`,
    );

    const bottle = await run.launch('launch', plan);
    checkEqual(bottle.name, `bot-bottle-${slug}`, 'Bottle.name');
    checkEqual(bottle.slug, slug, 'Bottle.slug');
    const missing = run.reporter.warnings.filter((w) => w.code === 'snapshot-missing');
    check(
      missing.length === 0,
      () => `launch warned 'snapshot-missing' although nothing was ever committed for ${slug}:\n${run.reporter.transcript()}`,
    );
  },
};

const case3: ContractCase = {
  id: 3,
  title: () => 'listActive() lists the bottle and attach(slug) returns a working handle',
  needs: [2],
  async run(run) {
    const { slug } = run;
    const name = run.harness.plugin.name;
    const active = await listActive(run, 'listActive');
    const entry = findActive(active, slug);
    check(entry, () => `listActive() does not include ${slug}; it returned ${show(active)}`);
    checkEqual(entry.agentName, CONTRACT_AGENT_NAME, 'ActiveAgent.agentName');
    checkEqual(entry.backend, name, 'ActiveAgent.backend');
    checkEqual(entry.runtimeName, runtimeNameFor(slug), 'ActiveAgent.runtimeName');
    if (entry.startedAt !== undefined) {
      check(!Number.isNaN(Date.parse(entry.startedAt)), `ActiveAgent.startedAt ${show(entry.startedAt)} is not an ISO 8601 time`);
    }

    const handle = await attach(run, slug, 'attach');
    check(handle, `attach(${slug}) resolved to undefined while the bottle runs`);
    checkEqual(handle.slug, slug, 'attached Bottle.slug');
    checkEqual(handle.name, runtimeNameFor(slug), 'attached Bottle.name');
    const uid = (await run.run(['id', '-u'], { what: 'exec through the attached handle' }, handle)).trim();
    checkEqual(uid, String(run.harness.fixture.agentUid), '`id -u` through the attached handle');

    let other = generateSlug(CONTRACT_AGENT_NAME);
    while (other === slug) other = generateSlug(CONTRACT_AGENT_NAME);
    const none = await attach(run, other, 'attach of a slug that never ran');
    check(none === undefined, `attach(${other}) returned a handle for a slug that was never started`);
  },
};

const case4: ContractCase = {
  id: 4,
  title: () => 'exec runs as the agent or root, returns failures, passes stdin/env/workdir; execDetached runs in the background',
  needs: [2],
  async run(run) {
    const { agentUid, agentHome } = run.harness.fixture;
    const bottle = run.requireBottle();

    checkEqual((await run.run(['id', '-u'])).trim(), String(agentUid), '`id -u` with the default user (the agent)');
    checkEqual((await run.run(['id', '-u'], { user: 'agent' })).trim(), String(agentUid), "`id -u` with user: 'agent'");
    checkEqual((await run.run(['id', '-un'])).trim(), run.harness.fixture.agentUser, '`id -un` of the agent');
    checkEqual(await run.sh('echo "$HOME"'), agentHome, '$HOME of the agent');
    checkEqual(await run.sh('echo ~'), agentHome, '`echo ~` as the agent');
    checkEqual((await run.run(['id', '-u'], { user: 'root' })).trim(), '0', "`id -u` with user: 'root'");

    const failing = await run.exec(['sh', '-c', 'echo contract-out; echo contract-err >&2; exit 3']);
    checkEqual(failing.exitCode, 3, 'exit code of `sh -c "...; exit 3"`', describeResult(failing));
    checkEqual(failing.stdout.trim(), 'contract-out', 'stdout of a failing command', describeResult(failing));
    check(failing.stderr.includes('contract-err'), () => `stderr of a failing command is not captured\n  ${describeResult(failing)}`);
    const missing = await run.exec(['bot-bottle-contract-no-such-command']);
    check(missing.exitCode !== 0, () => `a command that does not exist exited 0\n  ${describeResult(missing)}`);

    const input = 'first line of stdin\nsecond line, no newline at the end';
    checkEqual(await run.run(['cat'], { input }), input, '`cat` output with `input` on stdin');
    checkEqual(
      await run.sh('echo "$BB_CONTRACT_VAR"', { env: { BB_CONTRACT_VAR: 'value with spaces' } }),
      'value with spaces',
      'a variable passed through ExecOptions.env',
    );
    checkEqual((await run.run(['pwd'], { workdir: '/tmp' })).trim(), '/tmp', '`pwd` with workdir /tmp');

    let interactive: number;
    try {
      interactive = await within(
        bottle.execInteractive(['sh', '-c', 'exit 7']),
        60_000,
        'execInteractive(["sh", "-c", "exit 7"]) did not return within 60 s',
      );
    } catch (error) {
      if (error instanceof ContractViolation) throw error;
      fail('execInteractive(["sh", "-c", "exit 7"]) threw instead of resolving to the exit code', error);
    }
    checkEqual(interactive, 7, 'exit code from execInteractive(["sh", "-c", "exit 7"])');

    const marker = `${agentHome}/.bot-bottle-contract-detached`;
    const detachedScript = `echo detached-ok; touch ${shellQuote(marker)}; exec sleep 300`;
    try {
      await within(
        bottle.execDetached(['sh', '-c', detachedScript], { logPath: DETACHED_LOG }),
        60_000,
        'execDetached did not return within 60 s although its command runs for 300 s: it must not wait for the command',
      );
    } catch (error) {
      if (error instanceof ContractViolation) throw error;
      fail('execDetached threw', error);
    }
    await eventually(
      async () => (await run.exec(['test', '-e', marker])).exitCode === 0,
      30_000,
      () => `execDetached(${show(detachedScript)}) ran nothing: ${marker} did not appear within 30 s`,
    );
    await eventually(
      async () => (await run.exec(['cat', DETACHED_LOG])).stdout.includes('detached-ok'),
      30_000,
      () => `execDetached with logPath ${DETACHED_LOG}: the command's output did not reach the log within 30 s`,
    );

    const controller = new AbortController();
    const started = Date.now();
    const aborted = settle(bottle.exec(['sleep', '300'], { signal: controller.signal }));
    setTimeout(() => controller.abort(), 300);
    const outcome = await within(aborted, 60_000, 'exec(["sleep", "300"]) did not end within 60 s of its signal firing');
    if (outcome.ok) {
      check(
        outcome.value.exitCode !== 0,
        `exec(["sleep", "300"]) with a fired signal resolved with exit code 0 after ${Date.now() - started} ms`,
      );
    }
  },
};

const case5: ContractCase = {
  id: 5,
  title: (caps) =>
    caps.commitWhileRunning
      ? 'Freezer.commit snapshots the running bottle while execs keep succeeding; the bottle stays up'
      : 'Freezer.commit snapshots the bottle (commitWhileRunning: false, so the suite relaunches it afterwards)',
  needs: [2],
  async run(run) {
    const { slug } = run;
    const work = `${run.agentHome}/work`;
    const token = randomBytes(8).toString('hex');
    const note = `bot-bottle contract note for ${slug}: ${token}\n`;

    await run.run(['mkdir', '-p', `${work}/sub dir`], { what: 'preparing files to commit' });
    await run.run(['tee', notePath(run)], { input: note, what: 'writing ~/work/note.txt' });
    await run.run(['tee', `${work}/sub dir/nested file.txt`], { input: 'nested\n', what: 'writing a nested file' });
    await run.run(['tee', `${work}/run.sh`], { input: '#!/bin/sh\necho ran\n', what: 'writing a script' });
    await run.run(['chmod', '755', `${work}/run.sh`], { what: 'making the script executable' });

    const line = `bot-bottle contract ${token}`;
    const expectedSha = sha256(expectedBigFile(line));
    await run.sh(`yes ${shellQuote(line)} | head -c ${BIG_FILE_SIZE} > ${shellQuote(bigPath(run))}`, {
      what: 'writing the 5 MiB file (the fixture image needs yes and head)',
    });
    checkEqual(await sha256InBottle(run, bigPath(run), 'before the commit'), expectedSha, 'sha256 of ~/work/big.bin as written');

    await run.run(['touch', ...STALE_FILES], { what: 'leaving stale files in /tmp and /var/tmp as the agent' });
    if (run.capabilities.preservesOwnership) {
      const dir = OWNED_FILE.slice(0, OWNED_FILE.lastIndexOf('/'));
      await run.run(['mkdir', '-p', dir], { user: 'root', what: 'preparing an owned file' });
      await run.run(['tee', OWNED_FILE], { user: 'root', input: 'owned\n', what: 'preparing an owned file' });
      await run.run(['chown', '4242:4243', OWNED_FILE], { user: 'root', what: 'preparing an owned file' });
    }

    const bottle = run.requireBottle();
    run.reporter.clear();
    let result: CommitResult;
    if (run.capabilities.commitWhileRunning) {
      const probes: [readonly string[], string | undefined][] = [
        [['true'], undefined],
        [['cat', notePath(run)], note],
      ];
      const failures: string[] = [];
      let completed = 0;
      let committing = true;
      let stop = false;
      let inFlight: { argv: readonly string[]; since: number } | undefined;
      const loop = (async () => {
        while (!stop && failures.length < 50) {
          // Yield to timers between rounds even when exec settles without I/O.
          await new Promise((resolve) => setImmediate(resolve));
          for (const [argv, expected] of probes) {
            const phase = committing ? 'during the commit' : 'after the commit';
            inFlight = { argv, since: Date.now() };
            try {
              const r = await bottle.exec(argv);
              if (r.exitCode !== 0 || (expected !== undefined && r.stdout !== expected)) {
                failures.push(`${describeCommand(argv)} ${phase}:\n  ${describeResult(r)}`);
              }
            } catch (error) {
              failures.push(`${describeCommand(argv)} threw ${phase}: ${describeError(error)}`);
            }
            inFlight = undefined;
            completed += 1;
          }
        }
      })();
      // Leave time to say what hangs before the case's own timeout does.
      const commitDeadline = Math.max(run.timeoutMs / 2, run.timeoutMs - 45_000);
      const started = Date.now();
      const waiting = (): string =>
        inFlight
          ? `an exec, ${describeCommand(inFlight.argv)}, has been waiting for ${Math.round((Date.now() - inFlight.since) / 1000)} s`
          : 'no exec is in flight';
      const committed = await within(settle(run.commit()), commitDeadline, () => {
        stop = true;
        return `Freezer.commit(${slug}) did not return within ${Math.round((Date.now() - started) / 1000)} s while execs ran alongside it; ${completed} execs completed, ${waiting()} (a runtime that pauses the bottle to commit can deadlock with a concurrent exec)\n  reporter:\n${run.reporter.transcript()}`;
      });
      committing = false;
      const atCommitEnd = completed;
      try {
        await eventually(
          async () => completed >= atCommitEnd + 4 || failures.length > 0,
          60_000,
          () => `execs stopped answering after the commit: ${completed - atCommitEnd} completed in 60 s, ${waiting()}`,
        );
      } finally {
        stop = true;
        await within(loop, 60_000, 'an exec started around the commit never returned').catch(() => undefined);
      }
      if (!committed.ok) {
        fail(`Freezer.commit(${slug}) of a running bottle threw\n  reporter:\n${run.reporter.transcript()}\n  error`, committed.error);
      }
      check(
        failures.length === 0,
        () =>
          `${failures.length >= 50 ? 'at least ' : ''}${failures.length} of ${completed} execs run around the commit failed; the bottle must keep working during and after a commit (a backend that has to stop it declares commitWhileRunning: false). First failures:\n${failures.slice(0, 5).join('\n')}`,
      );
      result = committed.value;

      const entry = findActive(await listActive(run, 'after the commit'), slug);
      check(entry, `${slug} is no longer listed by listActive() after the commit; a commit must not stop the bottle`);
      const handle = await attach(run, slug, 'after the commit');
      check(handle, `attach(${slug}) found no bottle after the commit; a commit must not stop the bottle`);
      await run.run(['true'], { what: 'after the commit, through attach' }, handle);
    } else {
      const committed = await settle(run.commit());
      if (!committed.ok) {
        fail(`Freezer.commit(${slug}) threw\n  reporter:\n${run.reporter.transcript()}\n  error`, committed.error);
      }
      result = committed.value;
      await checkAnswers(run, 'after the commit');
    }

    check(result && typeof result === 'object', `Freezer.commit resolved to ${show(result)}`);
    checkEqual(result.slug, slug, 'CommitResult.slug');
    checkEqual(result.backend, run.harness.plugin.name, 'CommitResult.backend');
    check(typeof result.ref === 'string' && result.ref.trim().length > 0, `CommitResult.ref is ${show(result.ref)}`);
    check(typeof result.seconds === 'number' && result.seconds >= 0, `CommitResult.seconds is ${show(result.seconds)}`);
    run.facts.note = note;
    run.facts.bigSha256 = expectedSha;
    run.facts.firstCommit = result;
  },
};

const case6: ContractCase = {
  id: 6,
  title: () => 'the commit recorded its ref, preserved the bottle, reported, and left no temporary files',
  needs: [5],
  async run(run) {
    const { slug } = run;
    const { ref } = requireCommit(run);
    checkEqual(await run.store.readCommittedRef(slug), ref, 'store.readCommittedRef(slug) after the commit');
    check(await run.store.isPreserved(slug), `store.isPreserved(${slug}) is false after a commit`);
    check(await snapshotExists(run, ref, 'after the commit'), `snapshotExists(${show(ref)}) is false right after the commit that returned it`);
    const metadata = await run.store.readMetadata(slug);
    checkEqual(metadata?.identity, slug, 'metadata.json identity after the commit');
    checkEqual(metadata?.backend, run.harness.plugin.name, 'metadata.json backend after the commit');

    const line = `committed ${slug} -> ${ref}`;
    check(run.reporter.infos.includes(line), () => `the reporter never got ${show(line)}:\n${run.reporter.transcript()}`);
    const unfinished = run.reporter.progressRecords.filter((p) => !p.done);
    check(
      unfinished.length === 0,
      () => `progress handles opened during the commit were never finished (done()): ${unfinished.map((p) => show(p.label)).join(', ')}`,
    );
    await checkNoTempFiles(run, 'after a successful commit');
  },
};

const case7: ContractCase = {
  id: 7,
  title: () => 'the commit prints a resume hint naming the slug and an export hint',
  needs: [5],
  async run(run) {
    const { slug } = run;
    const result = requireCommit(run);
    check(
      typeof result.resumeHint === 'string' && result.resumeHint.includes(slug),
      `CommitResult.resumeHint ${show(result.resumeHint)} does not name the slug ${slug}`,
    );
    check(run.reporter.infos.includes(result.resumeHint), () => `the resume hint was not reported:\n${run.reporter.transcript()}`);
    check(
      typeof result.exportHint === 'string' && result.exportHint.trim().length > 0,
      `CommitResult.exportHint is ${show(result.exportHint)}: a backend says how to move its snapshot to another host (override Freezer.exportHint)`,
    );
    check(run.reporter.infos.includes(result.exportHint), () => `the export hint was not reported:\n${run.reporter.transcript()}`);
  },
};

const case8: ContractCase = {
  id: 8,
  title: () => 'teardown removes the bottle, keeps the preserved state and the snapshot, and is idempotent',
  needs: [5],
  async run(run) {
    const { slug } = run;
    const { ref } = requireCommit(run);
    const old = run.requireBottle();
    await tearDownBottle(run, slug);
    check(!findActive(await listActive(run, 'after teardown'), slug), `listActive() still lists ${slug} after teardown`);
    check((await attach(run, slug, 'after teardown')) === undefined, `attach(${slug}) still returns a handle after teardown`);
    const after = await settle(old.exec(['true']));
    if (after.ok) {
      check(after.value.exitCode !== 0, `exec through the old handle still succeeds after teardown: the bottle was not removed`);
    }

    check(await run.store.exists(slug), `metadata.json of ${slug} is gone after teardown: teardown must never touch state files`);
    checkEqual(await run.store.readCommittedRef(slug), ref, 'committed ref after teardown');
    check(await run.store.isPreserved(slug), `the preserved mark of ${slug} is gone after teardown`);
    check(await snapshotExists(run, ref, 'after teardown'), `snapshotExists(${show(ref)}) is false after teardown: teardown must keep committed snapshots`);

    try {
      await run.backend.teardown(slug);
    } catch (error) {
      fail(`a second teardown(${slug}) threw; teardown is idempotent`, error);
    }
    check(!findActive(await listActive(run, 'after a second teardown'), slug), `listActive() lists ${slug} after a second teardown`);
  },
};

const case9: ContractCase = {
  id: 9,
  title: (caps) =>
    `launch boots from the snapshot: files survive, /tmp and /var/tmp are fresh, ownership is ${caps.preservesOwnership ? 'preserved exactly' : 'restored for the agent'}`,
  needs: [8],
  async run(run) {
    const { slug } = run;
    const { ref } = requireCommit(run);
    const { agentUid, agentHome } = run.harness.fixture;
    run.reporter.clear();
    await run.launch('resume');
    const bottle = run.requireBottle();
    checkEqual(bottle.name, runtimeNameFor(slug), 'Bottle.name on resume');

    const missing = run.reporter.warnings.filter((w) => w.code === 'snapshot-missing');
    check(missing.length === 0, () => `launch warned 'snapshot-missing' although ${ref} exists:\n${run.reporter.transcript()}`);
    const said =
      run.reporter.infos.some((m) => m.includes(ref)) ||
      run.reporter.warnings.some((w) => w.message.includes(ref)) ||
      run.reporter.progressRecords.some((p) => p.label.includes(ref));
    check(said, () => `launch must say it boots from the committed snapshot, naming ${show(ref)}; the reporter got:\n${run.reporter.transcript()}`);

    checkEqual(await run.run(['cat', notePath(run)], { what: 'reading ~/work/note.txt after resume' }), run.facts.note, '~/work/note.txt after resume');
    checkEqual(await sha256InBottle(run, bigPath(run), 'after resume'), run.facts.bigSha256, 'sha256 of ~/work/big.bin after resume');
    checkEqual(
      await run.run(['cat', `${agentHome}/work/sub dir/nested file.txt`], { what: 'reading the nested file after resume' }),
      'nested\n',
      'nested file after resume',
    );
    checkEqual(await statIn(run, '%a', `${agentHome}/work/run.sh`, 'mode of the script'), '755', 'mode of ~/work/run.sh after resume');

    checkEqual((await run.run(['id', '-u'])).trim(), String(agentUid), '`id -u` of the agent after resume');
    checkEqual(await run.sh('echo "$HOME"'), agentHome, '$HOME of the agent after resume');

    for (const dir of ['/tmp', '/var/tmp']) {
      checkEqual(await statIn(run, '%a', dir, `mode of ${dir}`), '1777', `mode of ${dir} after resume (stat -c %a)`);
      checkEqual(await statIn(run, '%u', dir, `owner of ${dir}`), '0', `owner uid of ${dir} after resume`);
    }
    const tmp = await listDirIn(run, '/tmp', 'listing /tmp after resume');
    const varTmp = await listDirIn(run, '/var/tmp', 'listing /var/tmp after resume');
    const stale = [
      ...tmp.filter((name) => name === 'stale-x' || `/tmp/${name}` === DETACHED_LOG).map((n) => `/tmp/${n}`),
      ...varTmp.filter((name) => name === 'stale-y').map((n) => `/var/tmp/${n}`),
    ];
    check(stale.length === 0, `stale files from before the commit survived into the resumed bottle: ${stale.join(', ')}`);

    checkEqual(await statIn(run, '%u', agentHome, 'owner of the home'), String(agentUid), `owner uid of ${agentHome} after resume`);
    checkEqual(await statIn(run, '%u', notePath(run), 'owner of note.txt'), String(agentUid), 'owner uid of ~/work/note.txt after resume');
    await run.run(['touch', `${agentHome}/work/after-resume`, '/tmp/after-resume'], {
      what: 'the agent writing to ~/work and /tmp after resume',
    });
    if (run.capabilities.preservesOwnership) {
      checkEqual(
        await statIn(run, '%u:%g', OWNED_FILE, 'owner of the owned file'),
        '4242:4243',
        `owner of ${OWNED_FILE} after resume (the backend declares preservesOwnership)`,
      );
    }
    check(findActive(await listActive(run, 'after resume'), slug), `listActive() does not list ${slug} after resume`);
  },
};

const case10: ContractCase = {
  id: 10,
  title: () => "with the snapshot deleted, launch warns 'snapshot-missing' and builds from the fixture",
  needs: [9],
  async run(run) {
    const { slug } = run;
    const { ref } = requireCommit(run);
    try {
      await run.harness.deleteSnapshot(ref);
    } catch (error) {
      fail(`harness.deleteSnapshot(${show(ref)}) threw`, error);
    }
    check(
      !(await snapshotExists(run, ref, 'after deleteSnapshot')),
      `snapshotExists(${show(ref)}) is still true after harness.deleteSnapshot removed it`,
    );
    await tearDownBottle(run, slug);

    run.reporter.clear();
    await run.launch('launch with the snapshot gone');
    const missing = run.reporter.warnings.filter((w) => w.code === 'snapshot-missing');
    check(
      missing.length > 0,
      () => `launch did not warn with code 'snapshot-missing' although the recorded snapshot ${ref} is gone:\n${run.reporter.transcript()}`,
    );
    checkEqual((await run.run(['id', '-u'])).trim(), String(run.harness.fixture.agentUid), '`id -u` in the bottle built from the fixture');
    const note = await run.exec(['test', '-e', notePath(run)]);
    check(
      note.exitCode !== 0,
      `~/work/note.txt exists in the bottle launched after its snapshot was deleted: it was not built from the fixture`,
    );
  },
};

const case11: ContractCase = {
  id: 11,
  title: () => 'commit of an unknown or invalid slug rejects and writes nothing',
  needs: [1],
  async run(run) {
    let unknown = generateSlug(CONTRACT_AGENT_NAME);
    while (unknown === run.slug) unknown = generateSlug(CONTRACT_AGENT_NAME);
    const before = await listTree(run.root);

    const rejected = await settle(run.freezer.commit(unknown));
    if (rejected.ok) {
      run.rememberRef(rejected.value.ref);
      fail(`commit(${unknown}) of a slug that was never started resolved with ${show(rejected.value.ref)}`);
    }
    check(
      isErrorOf(rejected.error, UnknownSlugError),
      () => `commit(${unknown}) rejected with ${errorName(rejected.error)}, not UnknownSlugError: ${describeError(rejected.error)}`,
    );
    const afterUnknown = await listTree(run.root);
    checkEqual(JSON.stringify(afterUnknown), JSON.stringify(before), `files under the suite's home after commit(${unknown})`);

    const escape = await settle(run.freezer.commit('../escape'));
    check(!escape.ok, 'commit("../escape") resolved');
    if (!escape.ok) {
      check(
        isErrorOf(escape.error, InvalidSlugError),
        () => `commit("../escape") rejected with ${errorName(escape.error)}, not InvalidSlugError: ${describeError(escape.error)}`,
      );
    }
    checkEqual(JSON.stringify(await listTree(run.root)), JSON.stringify(before), 'files under the suite\'s home after commit("../escape")');

    try {
      await run.backend.teardown(unknown);
    } catch (error) {
      fail(`teardown(${unknown}) of a slug that never ran threw; teardown is idempotent`, error);
    }
    check((await attach(run, unknown, 'unknown slug')) === undefined, `attach(${unknown}) returned a handle for a slug that never ran`);
    checkEqual(JSON.stringify(await listTree(run.root)), JSON.stringify(before), `files under the suite's home after teardown(${unknown})`);
  },
};

type InterruptMode = 'first-report' | 'freeze-start';

/** Commit with a signal that fires once the freeze is under way (or as it starts). */
async function interruptedCommit(run: ContractRun, mode: InterruptMode) {
  const controller = new AbortController();
  let armed = false;
  let timer: NodeJS.Timeout | undefined;
  const abort = (): void => {
    if (!controller.signal.aborted) controller.abort(new Error('contract suite: simulated Ctrl-C'));
  };
  run.store.onLockAcquired = (slug) => {
    if (slug !== run.slug || armed) return;
    armed = true;
    if (mode === 'freeze-start') abort();
    else timer = setTimeout(abort, run.abortDelayMs);
  };
  run.reporter.onActivity = () => {
    if (armed) abort();
  };
  try {
    return await settle(run.commit({ signal: controller.signal }));
  } finally {
    run.store.onLockAcquired = undefined;
    run.reporter.onActivity = undefined;
    clearTimeout(timer);
  }
}

const case12: ContractCase = {
  id: 12,
  title: () => 'a commit interrupted mid-freeze rejects, leaves the previous snapshot in force, and leaves no temporary files',
  needs: [2],
  async run(run) {
    const { slug } = run;
    const kept = `${run.agentHome}/work/before-commit.txt`;
    const changed = `${run.agentHome}/work/after-commit.txt`;
    await run.ensureRunning('before the interrupted commit');
    await run.run(['tee', kept], { input: 'kept\n', what: 'writing a file to commit' });
    const first = await settle(run.commit());
    if (!first.ok) fail(`the commit before the interrupted one threw`, first.error);
    await run.ensureRunning('after the commit before the interrupted one');
    await run.run(['tee', changed], { input: 'changed\n', what: 'changing the bottle after the commit' });

    let previous = first.value.ref;
    const stateBefore = (await listTree(run.store.dir(slug))) ?? [];
    const rootBefore = await stateRootEntries(run);

    let outcome = await interruptedCommit(run, 'first-report');
    let how = `on the freeze's first report or ${run.abortDelayMs} ms after it started`;
    if (outcome.ok) {
      // The freeze finished before the signal fired: retry, firing as it starts.
      previous = outcome.value.ref;
      await run.ensureRunning('after an uninterrupted commit');
      outcome = await interruptedCommit(run, 'freeze-start');
      how = 'as the freeze started';
    }
    run.facts.refBeforeAbort = previous;
    if (outcome.ok) fail(`commit resolved with ${show(outcome.value.ref)} although its AbortSignal fired ${how}`);
    check(
      isBotBottleErrorLike(outcome.error),
      () => `the interrupted commit (signal fired ${how}) rejected with ${errorName(outcome.error)}, not a BotBottleError such as CommitAborted: ${describeError(outcome.error)}`,
    );

    checkEqual(await run.store.readCommittedRef(slug), previous, 'committed ref after an interrupted commit (must be the previous one)');
    check(
      await snapshotExists(run, previous, 'after an interrupted commit'),
      `snapshotExists(${show(previous)}) is false after an interrupted commit: a failed freeze must not damage the previous snapshot`,
    );
    await checkNoTempFiles(run, 'after an interrupted commit');
    await checkNoStrayStateFiles(run, stateBefore, 'after an interrupted commit');
    checkEqual(JSON.stringify(await stateRootEntries(run)), JSON.stringify(rootBefore), `entries of ${run.store.stateRoot} after an interrupted commit`);
    await checkAnswers(run, 'after an interrupted commit');

    // The previous snapshot is still what a resume boots: the file written
    // after it must not be there (a freeze that ignored the signal and
    // wrote over the previous artifact would bring it back).
    await tearDownBottle(run, slug);
    run.reporter.clear();
    await run.launch('resume after an interrupted commit');
    const missing = run.reporter.warnings.filter((w) => w.code === 'snapshot-missing');
    check(missing.length === 0, () => `resume after an interrupted commit warned 'snapshot-missing':\n${run.reporter.transcript()}`);
    await run.run(['test', '-e', kept], { what: `${kept} (committed before the interrupted commit) after resume` });
    const leaked = await run.exec(['test', '-e', changed]);
    check(
      leaked.exitCode !== 0,
      `${changed}, written after the last successful commit, exists after resuming: the interrupted commit replaced the previous snapshot ${show(previous)} although it reported failure`,
    );
  },
};

const case13: ContractCase = {
  id: 13,
  title: () => 'two concurrent commits of one slug: one wins, the recorded ref is one that was returned',
  needs: [2],
  async run(run) {
    const { slug } = run;
    await run.ensureRunning('before the concurrent commits');
    const stateBefore = (await listTree(run.store.dir(slug))) ?? [];
    const freezers = [run.harness.plugin.createFreezer(run.context), run.harness.plugin.createFreezer(run.context)];
    const settled = await Promise.allSettled(freezers.map((freezer) => run.commit({}, freezer)));
    const fulfilled = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const rejected = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
    check(
      fulfilled.length >= 1,
      () => `both concurrent commits rejected:\n  ${rejected.map(describeError).join('\n  ')}`,
    );
    for (const error of rejected) {
      check(
        isBotBottleErrorLike(error),
        () => `a concurrent commit rejected with ${errorName(error)}, not a BotBottleError: ${describeError(error)}`,
      );
    }
    const recorded = await run.store.readCommittedRef(slug);
    check(
      recorded !== undefined && fulfilled.some((r) => r.ref === recorded),
      () => `the recorded ref ${show(recorded)} is none of the refs the commits returned (${fulfilled.map((r) => show(r.ref)).join(', ')})`,
    );
    check(await snapshotExists(run, recorded, 'after concurrent commits'), `snapshotExists(${show(recorded)}) is false after concurrent commits`);
    await checkNoTempFiles(run, 'after concurrent commits');
    await checkNoStrayStateFiles(run, stateBefore, 'after concurrent commits');
    await checkAnswers(run, 'after concurrent commits');
  },
};

/** The contract, in the order the cases run. */
export const CONTRACT_CASES: readonly ContractCase[] = [
  case1,
  case2,
  case3,
  case4,
  case5,
  case6,
  case7,
  case8,
  case9,
  case10,
  case11,
  case12,
  case13,
];
