#!/usr/bin/env node
// CLI start-up benchmark.
//
// Measures the median wall time of
//   node packages/cli/bin/run.js --version
//   node packages/cli/bin/run.js list agents      (in a directory with a small manifest)
// against `node -e 0` measured in the same run, interleaved round by round so
// machine noise hits all three alike, and prints each as a ratio of
// `node -e 0` next to the target (<= 3x).
//
// The CLI runs through its production entry (bin/run.js): no dev plugins,
// commands found through oclif.manifest.json. BOT_BOTTLE_HOME and
// BOT_BOTTLE_DATA_DIR point at empty temporary directories so plugins you
// installed yourself do not change the numbers.
//
// For reference it also measures oclif's own floor: a throw-away CLI with
// the same package.json oclif settings and core plugins, started through the
// same bundled oclif runtime (packages/cli/dist/entry.js), whose only command
// writes one line. Whatever bot-bottle does, its start-up cannot go below
// that with oclif as its host.
//
// Usage: node bench/cli-startup.mjs [--runs N] [--json] [--strict]
//   --runs N   measured runs per command (default 15, minimum 10)
//   --json     print the results as JSON
//   --strict   exit 1 when a ratio is over the target
// Build first: npx turbo run build --filter=@bot-bottle/cli...

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const TARGET_RATIO = 3;
const WARMUP_RUNS = 2;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runJs = join(root, 'packages', 'cli', 'bin', 'run.js');

function option(name) {
  const index = process.argv.indexOf(name);
  return index === -1 ? undefined : process.argv[index + 1];
}
const runs = Math.max(10, Number.parseInt(option('--runs') ?? '15', 10) || 15);
const asJson = process.argv.includes('--json');
const strict = process.argv.includes('--strict');

for (const needed of [join(root, 'packages', 'cli', 'dist', 'commands', 'list.js'), join(root, 'packages', 'cli', 'oclif.manifest.json')]) {
  if (!existsSync(needed)) {
    console.error(`missing ${needed}; build first: npx turbo run build --filter=@bot-bottle/cli...`);
    process.exit(1);
  }
}

const work = mkdtempSync(join(tmpdir(), 'bb-bench-'));
const project = join(work, 'project');
const env = {
  ...process.env,
  BOT_BOTTLE_HOME: join(work, 'home'),
  BOT_BOTTLE_DATA_DIR: join(work, 'data'),
  BOT_BOTTLE_CACHE_DIR: join(work, 'cache'),
  BOT_BOTTLE_CONFIG_DIR: join(work, 'config'),
  NODE_ENV: 'production',
};
delete env.DEBUG;
spawnSync('mkdir', ['-p', project]);
writeFileSync(
  join(project, 'bot-bottle.json'),
  `${JSON.stringify(
    {
      bottles: { dev: { backend: 'docker', image: 'node:22' } },
      agents: {
        claude: { bottle: 'dev', template: 'claude' },
        tests: { bottle: 'dev', template: 'shell', command: 'npm test' },
      },
    },
    null,
    2,
  )}\n`,
);

/**
 * A minimal oclif CLI next to the workspace's node_modules (so its core
 * plugins resolve as bot-bottle's do): bot-bottle's oclif settings, one
 * no-op command listed in an oclif manifest, and a bin that starts the
 * bundled oclif runtime exactly as bin/run.js does.
 */
function writeOclifFloorCli() {
  const cliPackage = JSON.parse(readFileSync(join(root, 'packages', 'cli', 'package.json'), 'utf8'));
  const dir = mkdtempSync(join(root, 'bench', '.oclif-floor-'));
  const pjson = {
    name: 'oclif-floor',
    version: '0.0.0',
    type: 'module',
    private: true,
    dependencies: Object.fromEntries(cliPackage.oclif.plugins.map((plugin) => [plugin, '*'])),
    oclif: { ...cliPackage.oclif, bin: 'oclif-floor', dirname: 'oclif-floor', devPlugins: [], commands: './commands' },
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pjson, null, 2)}\n`);
  mkdirSync(join(dir, 'commands'));
  // oclif runs a command through its static run(); this one does nothing else.
  writeFileSync(join(dir, 'commands', 'noop.js'), "export default class Noop {\n  static async run() {\n    process.stdout.write('ok\\n');\n  }\n}\n");
  const command = { id: 'noop', aliases: [], args: {}, flags: {}, hidden: false, hiddenAliases: [], pluginAlias: 'oclif-floor', pluginName: 'oclif-floor', pluginType: 'core', isESM: true, relativePath: ['commands', 'noop.js'] };
  writeFileSync(join(dir, 'oclif.manifest.json'), `${JSON.stringify({ commands: { noop: command }, version: '0.0.0' })}\n`);
  writeFileSync(
    join(dir, 'run.js'),
    `import { enableCompileCache } from 'node:module';\nenableCompileCache?.();\nconst { execute, settings } = await import(${JSON.stringify(pathToFileURL(join(root, 'packages', 'cli', 'dist', 'entry.js')).href)});\nsettings.enableAutoTranspile = false;\nawait execute({ dir: import.meta.url });\n`,
  );
  return dir;
}
const floorCli = writeOclifFloorCli();

const cases = [
  { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
  { name: 'oclif floor (no-op)', argv: [process.execPath, join(floorCli, 'run.js'), 'noop'], reference: true },
  { name: 'bot-bottle --version', argv: [process.execPath, runJs, '--version'] },
  { name: 'bot-bottle list agents', argv: [process.execPath, runJs, 'list', 'agents'] },
];

function once(argv) {
  const started = process.hrtime.bigint();
  const result = spawnSync(argv[0], argv.slice(1), { cwd: project, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) {
    throw new Error(`${argv.join(' ')} exited with ${result.status}:\n${result.stderr}`);
  }
  return ms;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const samples = new Map(cases.map((entry) => [entry.name, []]));
try {
  for (let round = 0; round < WARMUP_RUNS; round += 1) for (const entry of cases) once(entry.argv);
  for (let round = 0; round < runs; round += 1) {
    for (const entry of cases) samples.get(entry.name).push(once(entry.argv));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
  rmSync(floorCli, { recursive: true, force: true });
}

const baseline = median(samples.get('node -e 0'));
const results = cases.map((entry) => {
  const values = samples.get(entry.name);
  const med = median(values);
  const ratio = med / baseline;
  return {
    name: entry.name,
    medianMs: Number(med.toFixed(1)),
    minMs: Number(Math.min(...values).toFixed(1)),
    ratio: Number(ratio.toFixed(2)),
    ...(entry.name === 'node -e 0' || entry.reference ? {} : { target: TARGET_RATIO, withinTarget: ratio <= TARGET_RATIO }),
  };
});

if (asJson) {
  console.log(JSON.stringify({ node: process.version, runs, entry: 'packages/cli/bin/run.js', results }, null, 2));
} else {
  console.log(`CLI start-up, median of ${runs} runs each (after ${WARMUP_RUNS} warm-up rounds), ${process.version}`);
  console.log('CLI measured through the production entry: node packages/cli/bin/run.js');
  console.log('');
  for (const result of results) {
    const verdict =
      result.name === 'node -e 0'
        ? '(baseline)'
        : result.target === undefined
          ? `${result.ratio.toFixed(2)}x  (reference: oclif's own start-up)`
          : `${result.ratio.toFixed(2)}x  target <= ${result.target}x  ${result.withinTarget ? 'ok' : 'OVER'}`;
    console.log(`${result.name.padEnd(24)} ${result.medianMs.toFixed(1).padStart(7)} ms  (min ${result.minMs.toFixed(1)})  ${verdict}`);
  }
}
if (strict && results.some((result) => result.withinTarget === false)) process.exit(1);
