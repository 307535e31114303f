#!/usr/bin/env node
// How much does the smolmachines backend's commit add on top of the raw
// steps it wraps?
//
//   backend: Freezer.commit(slug) of a running VM with ~300 MB changed
//            (2,000 small files + one large file): probe exec -> owners
//            manifest + in-VM gzip tar to a file -> machine cp -> host
//            filterTar -> OCI image (core/oci) -> short-lived registry ->
//            pack create --image -> rename into place;
//   raw:     the same in-VM `tar --gzip --file=...`, `machine cp` out, and a
//            `pack create --image` of that archive served as-is (image built
//            without filtering), no owners manifest, no probe, no renames.
//
// Median of RUNS (default 3) runs each, interleaved, printed as a ratio.
// No assertions. Runs over the smolvm EMULATOR (test-fixtures/smolvm-emulator,
// on Docker) unless BOT_BOTTLE_SMOLVM names a real smolvm. Needs a built
// workspace and the fixture image:
//   source scripts/toolchain.sh && npx turbo run build && npm run fixtures
//   node bench/smolmachines-commit.mjs
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Math.max(1, Number(process.env.RUNS ?? 3));
const SMALL_FILES = 2000;
const LARGE_MB = 290;
const FIXTURE = 'bot-bottle-fixture-agent:latest';
const EMULATOR = join(root, 'test-fixtures/smolvm-emulator/bin/smolvm');

const core = await import(pathToFileURL(join(root, 'packages/core/dist/index.js')).href);
const smol = await import(pathToFileURL(join(root, 'packages/backend-smolmachines/dist/index.js')).href);
const { SmolvmCli, vmPath } = await import(pathToFileURL(join(root, 'packages/backend-smolmachines/dist/smolvm.js')).href);
const plugin = smol.default;

const work = mkdtempSync(join(tmpdir(), 'bot-bottle-bench-smol-'));
const home = join(work, 'home');
const env = {
  ...process.env,
  BOT_BOTTLE_HOME: home,
  BOT_BOTTLE_SMOLVM: process.env.BOT_BOTTLE_SMOLVM || EMULATOR,
  SMOLVM_EMULATOR_HOME: process.env.SMOLVM_EMULATOR_HOME || join(work, 'emulator'),
};

const log = (line) => process.stdout.write(`${line}\n`);
const fmt = (s) => `${s.toFixed(2)}s`;
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const seconds = async (fn) => {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1e9;
};

const store = new core.StateStore(home);
const quiet = { info() {}, warn() {}, progress: () => ({ update() {}, done() {} }) };
const context = { store, reporter: quiet, env };
const backend = plugin.createBackend(context);
const freezer = plugin.createFreezer(context);
const cli = new SmolvmCli(env);

/** The raw steps: in-VM gzip tar to a file, machine cp, pack of the archive served unfiltered. */
async function rawCommit(name) {
  const dir = mkdtempSync(join(work, 'raw-'));
  const archive = `/var/tmp/.bench-raw-${process.pid}.tar.gz`;
  const steps = {};
  try {
    steps.tar = await seconds(async () => {
      const r = await cli.machineExec(name, ['tar', '--create', '--gzip', `--file=${archive}`, '--directory=/',
        ...['proc', 'sys', 'dev', 'run', 'tmp', 'var/tmp'].map((d) => `--exclude=./${d}/*`), '.']);
      if (r.exitCode > 1) throw new Error(`raw tar failed (${r.exitCode}): ${r.stderr}`);
    });
    steps.cp = await seconds(() => cli.machineCp(vmPath(name, archive), join(dir, 'rootfs.tar.gz')));
    steps.image = await seconds(() =>
      core.buildImageFromRootfs({ layoutDir: join(dir, 'layout'), rootfs: createReadStream(join(dir, 'rootfs.tar.gz')), tag: 'raw', gzip: true }));
    steps.pack = await seconds(() =>
      core.withServedImage(join(dir, 'layout'), (served) => cli.packCreateImage(served.reference('raw'), join(dir, 'out')), { name: 'bench/raw' }));
  } finally {
    await cli.machineExec(name, ['rm', '-f', archive]);
    rmSync(dir, { recursive: true, force: true });
  }
  return steps;
}

const slug = `bench-smol-${process.pid.toString(36)}`;
try {
  await store.writeMetadata({ identity: slug, agent: 'bench', backend: 'smolmachines', cwd: work, startedAt: new Date().toISOString() });
  const spec = {
    slug,
    agentName: 'bench',
    agent: { bottle: 'b', template: 'shell', command: ['sleep', 'infinity'], prompt: '', skills: [], env: {}, copyCwd: false },
    bottleName: 'b',
    bottle: { backend: 'smolmachines', image: FIXTURE },
    manifestDir: work,
    cwd: work,
  };
  log(`launching ${slug} over ${env.BOT_BOTTLE_SMOLVM === EMULATOR ? 'the smolvm emulator' : env.BOT_BOTTLE_SMOLVM}`);
  const bottle = await backend.launch(await backend.prepare(spec));
  const fill = await bottle.exec(['sh', '-c', [
    'mkdir -p ~/bench/small',
    `i=0; while [ $i -lt ${SMALL_FILES} ]; do head -c 4096 /dev/urandom > ~/bench/small/f$i; i=$((i+1)); done`,
    `head -c ${LARGE_MB}M /dev/urandom > ~/bench/large.bin`,
  ].join(' && ')]);
  if (fill.exitCode !== 0) throw new Error(`filling the bottle failed: ${fill.stderr}`);
  log(`changed: ${SMALL_FILES} x 4 KiB + ${LARGE_MB} MiB (random, so gzip cannot shrink it)`);

  const backendTimes = [];
  const rawTimes = [];
  const rawSteps = [];
  for (let run = 1; run <= RUNS; run += 1) {
    const b = await seconds(() => freezer.commit(slug));
    const steps = await rawCommit(bottle.name);
    const raw = steps.tar + steps.cp + steps.image + steps.pack;
    backendTimes.push(b);
    rawTimes.push(raw);
    rawSteps.push(steps);
    log(`run ${run}/${RUNS}: commit ${fmt(b)}  raw ${fmt(raw)} (tar ${fmt(steps.tar)}, cp ${fmt(steps.cp)}, image ${fmt(steps.image)}, pack ${fmt(steps.pack)})`);
  }
  const b = median(backendTimes);
  const r = median(rawTimes);
  const rawNoImage = median(rawSteps.map((s) => s.tar + s.cp + s.pack));
  log('');
  log(`median commit:                 ${fmt(b)}`);
  log(`median raw (tar+cp+image+pack): ${fmt(r)}`);
  log(`ratio commit / raw:            ${(b / r).toFixed(2)}x`);
  log(`ratio commit / raw without the image build step: ${(b / rawNoImage).toFixed(2)}x`);
} finally {
  await backend.teardown(slug).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
