#!/usr/bin/env node
// How much does bot-bottle add on top of Docker?
//
//   1. `bot-bottle commit SLUG` of a bottle with ~300 MB changed (2,000 small
//      files + one large file) vs a raw `docker commit` of the same container;
//   2. `bot-bottle resume SLUG --detach` from that snapshot vs a raw
//      `docker run -d` of the same image.
//
// Median of RUNS (default 5) runs each, printed as ratios next to their
// targets. No assertions. Needs a built workspace and the fixture image:
//   source scripts/toolchain.sh && npx turbo run build && npm run fixtures
//   node bench/docker-commit.mjs
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(root, 'bin/bot-bottle');
const DEMO = join(root, 'test-fixtures/demo');
const RUNS = Math.max(5, Number(process.env.RUNS ?? 5));
const SMALL_FILES = 2000;
const LARGE_MB = 290;
const COMMIT_TARGET = 1.15;

const home = mkdtempSync(join(tmpdir(), 'bot-bottle-bench-home-'));
const env = { ...process.env, BOT_BOTTLE_HOME: home };
const rawTag = `bot-bottle-bench-raw-${process.pid}`;
const rawRunName = `bot-bottle-bench-raw-run-${process.pid}`;

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { cwd: DEMO, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`);
  }
  return result.stdout;
}
const bb = (...args) => run(BIN, args);
const docker = (...args) => run('docker', args);
const quiet = (cmd, args) => spawnSync(cmd, args, { cwd: DEMO, env, stdio: 'ignore' });

function timed(fn) {
  const started = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - started) / 1e9;
}
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
const fmt = (s) => `${s.toFixed(2)}s`;
const log = (line) => process.stdout.write(`${line}\n`);

let slug;
const benchStarted = Date.now();
try {
  log(`bench: docker commit/resume, ${RUNS} runs each (BOT_BOTTLE_HOME=${home})`);
  slug = JSON.parse(bb('start', 'demo', '--detach', '--json')).slug;
  const container = `bot-bottle-${slug}`;
  log(`bench: bottle ${slug}; writing ${SMALL_FILES} small files + one ${LARGE_MB} MB file`);
  bb(
    'exec',
    slug,
    '--',
    'sh',
    '-c',
    `mkdir -p ~/bench/small && i=0; while [ $i -lt ${SMALL_FILES} ]; do head -c 4096 /dev/urandom > ~/bench/small/f$i; i=$((i+1)); done; ` +
      `head -c ${LARGE_MB * 1024 * 1024} /dev/urandom > ~/bench/large.bin; du -sm ~/bench | cut -f1`,
  );
  log(`bench: changed ${docker('exec', container, 'du', '-sm', '/home/node/bench').split('\t')[0]} MB in the bottle`);

  // Warm both paths once (page cache, CLI module cache) before measuring.
  bb('commit', slug);
  docker('commit', container, `${rawTag}:warm`);
  quiet('docker', ['rmi', `${rawTag}:warm`]);

  const cliCommit = [];
  const rawCommit = [];
  for (let i = 0; i < RUNS; i += 1) {
    // Alternate which goes first so neither always gets the warmer cache.
    const pair = [
      () => cliCommit.push(timed(() => bb('commit', slug))),
      () => {
        rawCommit.push(timed(() => docker('commit', container, `${rawTag}:${i}`)));
        quiet('docker', ['rmi', `${rawTag}:${i}`]);
      },
    ];
    if (i % 2) pair.reverse();
    for (const step of pair) step();
    log(`  commit run ${i + 1}: bot-bottle ${fmt(cliCommit.at(-1))}, docker ${fmt(rawCommit.at(-1))}`);
  }

  const snapshot = `bot-bottle-committed-${slug}:latest`;
  bb('cleanup', slug);
  const cliResume = [];
  const rawResume = [];
  for (let i = 0; i < RUNS; i += 1) {
    const pair = [
      () => {
        cliResume.push(timed(() => bb('resume', slug, '--detach')));
        bb('cleanup', slug);
      },
      () => {
        rawResume.push(timed(() => docker('run', '-d', '--name', rawRunName, '--pull', 'never', snapshot, 'sleep', 'infinity')));
        quiet('docker', ['rm', '-f', rawRunName]);
      },
    ];
    if (i % 2) pair.reverse();
    for (const step of pair) step();
    log(`  resume run ${i + 1}: bot-bottle ${fmt(cliResume.at(-1))}, docker run ${fmt(rawResume.at(-1))}`);
  }

  const commitRatio = median(cliCommit) / median(rawCommit);
  const resumeRatio = median(cliResume) / median(rawResume);
  log('');
  log(`commit  ~300 MB changed: bot-bottle ${fmt(median(cliCommit))} vs docker commit ${fmt(median(rawCommit))}  ratio ${commitRatio.toFixed(2)} (target <= ${COMMIT_TARGET}) ${commitRatio <= COMMIT_TARGET ? 'ok' : 'over target'}`);
  // No target is set for resume: bot-bottle also starts the CLI, creates the
  // network, prepares /tmp and starts the agent, which a bare `docker run` does not.
  log(`resume  --detach:         bot-bottle ${fmt(median(cliResume))} vs docker run -d   ${fmt(median(rawResume))}  ratio ${resumeRatio.toFixed(2)} (no target; informational)`);
  log(`bench took ${((Date.now() - benchStarted) / 1000).toFixed(0)}s`);
} finally {
  if (slug) {
    quiet(BIN, ['cleanup', slug]);
    quiet('docker', ['rm', '-f', `bot-bottle-${slug}`]);
    quiet('docker', ['network', 'rm', `bot-bottle-${slug}`]);
    quiet('docker', ['rmi', `bot-bottle-committed-${slug}:latest`]);
  }
  quiet('docker', ['rm', '-f', rawRunName]);
  for (const line of (spawnSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}', rawTag], { encoding: 'utf8' }).stdout ?? '').split('\n')) {
    if (line.trim()) quiet('docker', ['rmi', line.trim()]);
  }
  rmSync(home, { recursive: true, force: true });
}
