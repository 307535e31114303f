#!/usr/bin/env node
// How much does the macos-container backend's commit add on top of the raw
// pipeline it wraps?
//
//   backend: Freezer.commit(slug) of a bottle with ~300 MB changed (2,000
//            small files + one large file): exec tar -> host tar filter ->
//            temp archive -> `container build` FROM scratch -> retag;
//   raw:     the same `container exec ... tar` straight into a file, then a
//            `container build` of a FROM scratch + ADD Dockerfile.
//
// Median of RUNS (default 5, at least 5) runs each, interleaved, printed as a
// ratio next to its target. No assertions. Runs over the container EMULATOR
// (test-fixtures/container-emulator, on Docker) unless BENCH_REAL_CONTAINER=1
// on a Mac with Apple's container. Needs a built workspace and the fixture:
//   source scripts/toolchain.sh && npx turbo run build && npm run fixtures
//   node bench/macos-container-commit.mjs
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Math.max(5, Number(process.env.RUNS ?? 5));
const SMALL_FILES = 2000;
const LARGE_MB = 290;
const TARGET = 1.2;
const FIXTURE = 'bot-bottle-fixture-agent:latest';
const EMULATOR = join(root, 'test-fixtures/container-emulator/bin/container');

const core = await import(pathToFileURL(join(root, 'packages/core/dist/index.js')).href);
const backendModule = await import(pathToFileURL(join(root, 'packages/backend-macos-container/dist/index.js')).href);
const plugin = backendModule.default;

const real = process.env.BENCH_REAL_CONTAINER === '1';
const work = mkdtempSync(join(tmpdir(), 'bot-bottle-bench-macos-'));
const home = join(work, 'home');
const env = { ...process.env, BOT_BOTTLE_HOME: home, ...(real ? {} : { BOT_BOTTLE_CONTAINER_EMULATOR: EMULATOR }) };
const BIN = real ? 'container' : EMULATOR;
const rawTag = `bot-bottle-bench-raw-${process.pid}:latest`;

const log = (line) => process.stdout.write(`${line}\n`);
const fmt = (s) => `${s.toFixed(2)}s`;
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
function container(args, options = {}) {
  const result = spawnSync(BIN, args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.status !== 0) throw new Error(`container ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`);
  return result.stdout;
}

/** The raw pipeline: exec tar straight into a file, then build FROM scratch + ADD of that file. */
async function rawCommit(name) {
  const dir = mkdtempSync(join(work, 'raw-'));
  try {
    const fd = openSync(join(dir, 'rootfs.tar'), 'w');
    const code = await new Promise((done, fail) => {
      const child = spawn(BIN, backendModule.tarArgs(name), { env, stdio: ['ignore', fd, 'inherit'] });
      child.once('error', fail);
      child.once('close', (c) => done(c ?? 1));
    });
    closeSync(fd);
    if (code > 1) throw new Error(`raw exec tar exited ${code}`);
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nADD rootfs.tar /\n');
    container(['build', '--tag', rawTag, '--file', join(dir, 'Dockerfile'), dir]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const reporter = new core.RecordingReporter();
const context = { store: new core.StateStore(home), reporter, env };
const backend = plugin.createBackend(context);
const freezer = plugin.createFreezer(context);
const slug = core.generateSlug('bench');
const name = core.runtimeNameFor(slug);
const started = Date.now();
try {
  const availability = await backend.availability();
  if (!availability.available) throw new Error(`macos-container is not available: ${availability.reason} (${availability.fix})`);
  log(`bench: macos-container commit vs raw exec-tar + build, ${RUNS} runs each, ${real ? "Apple's container" : 'container EMULATOR on Docker'}`);

  await context.store.writeMetadata({ identity: slug, agent: 'bench', backend: 'macos-container', cwd: work, startedAt: new Date().toISOString() });
  const spec = {
    slug,
    agentName: 'bench',
    agent: core.agentSchema.parse({ bottle: 'bench', template: 'shell', command: ['sleep', 'infinity'] }),
    bottleName: 'bench',
    bottle: core.bottleSchema.parse({ backend: 'macos-container', image: FIXTURE }),
    manifestDir: work,
    cwd: work,
  };
  const bottle = await backend.launch(await backend.prepare(spec));
  const fill = await bottle.exec([
    'sh',
    '-c',
    `mkdir -p ~/bench/small && i=0; while [ $i -lt ${SMALL_FILES} ]; do head -c 4096 /dev/urandom > ~/bench/small/f$i; i=$((i+1)); done; ` +
      `head -c ${LARGE_MB}M /dev/urandom > ~/bench/large.bin && du -sm ~/bench | cut -f1`,
  ]);
  if (fill.exitCode !== 0) throw new Error(`filling the bottle failed: ${fill.stderr}`);
  log(`bottle ${name}: ${fill.stdout.trim()} MB changed (${SMALL_FILES} small files + one ${LARGE_MB} MB file)`);

  const backendTimes = [];
  const rawTimes = [];
  for (let i = 0; i < RUNS; i += 1) {
    let t = process.hrtime.bigint();
    await freezer.commit(slug);
    backendTimes.push(Number(process.hrtime.bigint() - t) / 1e9);
    t = process.hrtime.bigint();
    await rawCommit(name);
    rawTimes.push(Number(process.hrtime.bigint() - t) / 1e9);
    log(`  run ${i + 1}: backend ${fmt(backendTimes.at(-1))}  raw ${fmt(rawTimes.at(-1))}`);
  }
  const b = median(backendTimes);
  const r = median(rawTimes);
  log(`commit (backend)       median ${fmt(b)}`);
  log(`exec tar + build (raw) median ${fmt(r)}`);
  log(`ratio backend/raw: ${(b / r).toFixed(2)} (target <= ${TARGET})`);
} finally {
  await backend.teardown(slug).catch(() => undefined);
  // Bounded: a busy shared engine can hold image deletions for a long time.
  const bounded = { env, stdio: 'ignore', timeout: 120_000, killSignal: 'SIGKILL' };
  for (const ref of [core.committedImageFor(slug), rawTag]) spawnSync(BIN, ['image', 'delete', ref], bounded);
  // Replaced snapshots keep their content until a prune (as in Apple's image store). The
  // emulator prunes only images it built; never prune a real store from a benchmark.
  if (!real) spawnSync(BIN, ['image', 'prune'], bounded);
  rmSync(work, { recursive: true, force: true });
  log(`bench took ${((Date.now() - started) / 1000).toFixed(0)}s`);
}
