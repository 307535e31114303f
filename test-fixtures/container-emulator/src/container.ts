/**
 * EMULATOR of Apple's `container` CLI, implemented on top of a Docker engine.
 *
 * This is a test fixture, not Apple's tool. It reproduces the argument shapes
 * and the behaviours bot-bottle's macos-container backend depends on, so that
 * backend can be exercised on Linux CI:
 *
 *   - a container is removed as soon as it stops, whether or not `--rm` was
 *     given (every container is started with `docker run --rm`);
 *   - `export` needs a stopped container, which therefore never exists: it
 *     always fails;
 *   - unknown options fail the way swift-argument-parser does (exit 64 and an
 *     error naming the option);
 *   - images are the engine's images; `run` never pulls.
 *
 * It only touches docker objects it created: containers, networks and built
 * images carry the label `dev.bot-bottle.emulator=container`; anything else
 * is refused by the mutating commands.
 *
 * Only node built-ins and erasable TypeScript syntax are used, so Node
 * >= 22.18 runs this file directly.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

const LABEL_KEY = 'dev.bot-bottle.emulator';
const LABEL_VALUE = 'container';
const LABEL = `${LABEL_KEY}=${LABEL_VALUE}`;
const DOCKER = process.env.CONTAINER_EMULATOR_DOCKER ?? 'docker';
/** The gateway (and so the DNS server) of the emulated vmnet network. */
const GATEWAY = process.env.CONTAINER_EMULATOR_GATEWAY ?? '192.168.64.1';

// ---------------------------------------------------------------- errors

class CliError extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.code = code;
  }
}

function fail(message: string, code = 1): never {
  throw new CliError(message, code);
}

// ---------------------------------------------------------------- argument parsing

interface OptionSpec {
  /** Long and short spellings, e.g. ['--env', '-e']. */
  readonly names: readonly string[];
  readonly key: string;
  readonly value?: boolean;
  readonly multiple?: boolean;
}

interface CommandSpec {
  readonly usage: string;
  readonly summary: string;
  readonly options: readonly OptionSpec[];
  /** The first positional ends option parsing (run, exec: the rest is the process's argv). */
  readonly stopAtPositional?: boolean;
}

interface Parsed {
  readonly opts: Map<string, string[]>;
  readonly flags: Set<string>;
  readonly positionals: string[];
}

const opt = (names: string[], key: string, extra: { value?: boolean; multiple?: boolean } = {}): OptionSpec => ({
  names,
  key,
  ...extra,
});

const DEBUG = opt(['--debug'], 'debug');
const HELP = opt(['--help', '-h'], 'help');

const PROCESS_OPTIONS: OptionSpec[] = [
  opt(['--env', '-e'], 'env', { value: true, multiple: true }),
  opt(['--env-file'], 'env-file', { value: true, multiple: true }),
  opt(['--gid'], 'gid', { value: true }),
  opt(['--interactive', '-i'], 'interactive'),
  opt(['--tty', '-t'], 'tty'),
  opt(['--user', '-u'], 'user', { value: true }),
  opt(['--uid'], 'uid', { value: true }),
  opt(['--workdir', '--cwd', '-w'], 'workdir', { value: true }),
];

function parse(command: string, spec: CommandSpec, argv: readonly string[]): Parsed {
  const byName = new Map<string, OptionSpec>();
  for (const o of [...spec.options, DEBUG, HELP]) for (const n of o.names) byName.set(n, o);
  const opts = new Map<string, string[]>();
  const flags = new Set<string>();
  const positionals: string[] = [];
  const usageTail = `Usage: ${spec.usage}\n  See 'container ${command} --help' for more information.`;
  const take = (o: OptionSpec, name: string, inline: string | undefined, next: () => string | undefined): void => {
    if (!o.value) {
      if (inline !== undefined) fail(`Error: Unknown option '${name}=${inline}'\n${usageTail}`, 64);
      flags.add(o.key);
      return;
    }
    const v = inline ?? next();
    if (v === undefined) fail(`Error: Missing value for '${name} <${o.key}>'\n${usageTail}`, 64);
    const list = opts.get(o.key) ?? [];
    if (!o.multiple) list.length = 0;
    list.push(v);
    opts.set(o.key, list);
  };
  let i = 0;
  const next = (): string | undefined => {
    i += 1;
    return argv[i];
  };
  for (; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg : arg.slice(0, eq);
      const inline = eq === -1 ? undefined : arg.slice(eq + 1);
      const o = byName.get(name);
      if (!o) fail(`Error: Unknown option '${name}'\n${usageTail}`, 64);
      take(o, name, inline, next);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // Short options, possibly combined (-it); a value-taking one consumes the rest or the next arg.
      for (let j = 1; j < arg.length; j += 1) {
        const name = `-${arg[j]}`;
        const o = byName.get(name);
        if (!o) fail(`Error: Unknown option '${name}'\n${usageTail}`, 64);
        if (o.value) {
          const rest = arg.slice(j + 1);
          take(o, name, rest.length > 0 ? rest : undefined, next);
          break;
        }
        take(o, name, undefined, next);
      }
      continue;
    }
    positionals.push(arg);
    if (spec.stopAtPositional) {
      positionals.push(...argv.slice(i + 1));
      break;
    }
  }
  if (flags.has('help')) {
    process.stdout.write(helpText(command, spec));
    process.exit(0);
  }
  return { opts, flags, positionals };
}

function helpText(command: string, spec: CommandSpec): string {
  const lines = [
    `OVERVIEW: ${spec.summary}`,
    '',
    'NOTE: this is the bot-bottle EMULATOR of Apple\'s `container` CLI, running on a Docker engine.',
    '',
    `USAGE: ${spec.usage}`,
    '',
    'OPTIONS:',
    ...[...spec.options, DEBUG, HELP].map((o) => `  ${o.names.join(', ')}${o.value ? ` <${o.key}>` : ''}`),
    '',
  ];
  void command;
  return lines.join('\n');
}

function one(p: Parsed, key: string): string | undefined {
  const v = p.opts.get(key);
  return v ? v[v.length - 1] : undefined;
}

function many(p: Parsed, key: string): string[] {
  return p.opts.get(key) ?? [];
}

// ---------------------------------------------------------------- docker access

interface Captured {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

function docker(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Captured {
  const r = spawnSync(DOCKER, args, { encoding: 'utf8', env, maxBuffer: 256 * 1024 * 1024 });
  if (r.error) fail(`Error: cannot run ${DOCKER}: ${r.error.message}`);
  return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function dockerOk(args: readonly string[], what: string, env?: NodeJS.ProcessEnv): string {
  const r = docker(args, env);
  if (r.status !== 0) fail(`Error: ${what}: ${r.stderr.trim() || `exit ${r.status}`}`);
  return r.stdout;
}

/** Run docker with our stdio (streams pass straight through) and exit with its status. */
function dockerPassthrough(
  args: readonly string[],
  options: { stdoutToStderr?: boolean; env?: NodeJS.ProcessEnv; after?: (code: number) => void } = {},
): void {
  const child = spawn(DOCKER, args, {
    stdio: ['inherit', options.stdoutToStderr ? process.stderr : 'inherit', 'inherit'],
    env: options.env ?? process.env,
  });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, forward);
  child.on('error', (error) => {
    process.stderr.write(`Error: cannot run ${DOCKER}: ${error.message}\n`);
    process.exit(1);
  });
  child.on('close', (code, signal) => {
    const status = code ?? (signal ? 128 + 15 : 1);
    options.after?.(status);
    process.exit(status);
  });
}

interface DockerContainer {
  readonly Name: string;
  readonly Id: string;
  readonly Created: string;
  readonly State: { readonly Status: string; readonly Running: boolean };
  readonly Config: {
    readonly Image: string;
    readonly Labels: Record<string, string> | null;
    readonly Env: string[] | null;
    readonly Cmd: string[] | null;
    readonly Entrypoint: string[] | null;
    readonly WorkingDir: string;
    readonly User: string;
    readonly Tty: boolean;
    readonly Hostname: string;
  };
  readonly Image: string;
  readonly HostConfig: { readonly NanoCpus: number; readonly Memory: number };
  readonly Mounts: { Source: string; Destination: string; RW: boolean }[] | null;
  readonly NetworkSettings: {
    readonly Networks: Record<string, { IPAddress: string; IPPrefixLen: number; Gateway: string }> | null;
  };
}

function inspectContainers(ids: readonly string[]): DockerContainer[] {
  if (ids.length === 0) return [];
  const r = docker(['container', 'inspect', ...ids]);
  if (r.status !== 0 && r.stdout.trim() === '') return [];
  try {
    return JSON.parse(r.stdout) as DockerContainer[];
  } catch {
    return [];
  }
}

/** Our container by name; refuses docker containers the emulator did not create. */
function ownContainer(id: string): DockerContainer {
  const [c] = inspectContainers([id]);
  if (!c || c.Name.replace(/^\//, '') !== id) fail(`Error: notFound: "container ${id} not found"`);
  if (c.Config.Labels?.[LABEL_KEY] !== LABEL_VALUE) {
    fail(`Error: refusing to touch docker container ${id}: it was not created by the container emulator`);
  }
  return c;
}

function ownedContainerNames(all: boolean): string[] {
  const out = dockerOk(
    ['ps', ...(all ? ['--all'] : []), '--filter', `label=${LABEL}`, '--format', '{{.Names}}'],
    'cannot list containers',
  );
  return out.split('\n').map((s) => s.trim()).filter(Boolean);
}

function waitGone(id: string, timeoutMs = 30_000): void {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (docker(['container', 'inspect', '--format', '{{.Id}}', id]).status !== 0) return;
    spawnSync('sleep', ['0.1']);
  }
}

// ---------------------------------------------------------------- state (builder)

function stateDir(): string {
  const dir =
    process.env.CONTAINER_EMULATOR_STATE_DIR ?? join(tmpdir(), `bot-bottle-container-emulator-${process.getuid?.() ?? 0}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

interface BuilderState {
  running: boolean;
  nameservers: string[];
}

function readBuilder(): BuilderState {
  try {
    return JSON.parse(readFileSync(join(stateDir(), 'builder.json'), 'utf8')) as BuilderState;
  } catch {
    return { running: false, nameservers: [] };
  }
}

function writeBuilder(state: BuilderState, event: string): void {
  writeFileSync(join(stateDir(), 'builder.json'), `${JSON.stringify(state)}\n`);
  appendFileSync(join(stateDir(), 'builder.log'), `${event}\n`);
}

function startBuilder(): void {
  // A freshly started builder picks up the current network's DNS server.
  writeBuilder({ running: true, nameservers: [GATEWAY] }, 'start');
}

// ---------------------------------------------------------------- image helpers

interface DockerImage {
  readonly Id: string;
  readonly RepoTags: string[] | null;
  readonly RepoDigests: string[] | null;
  readonly Created: string;
  readonly Size: number;
  readonly Architecture: string;
  readonly Os: string;
  readonly Config: {
    readonly User?: string;
    readonly Env?: string[] | null;
    readonly Entrypoint?: string[] | null;
    readonly Cmd?: string[] | null;
    readonly WorkingDir?: string;
    readonly Labels?: Record<string, string> | null;
    readonly ExposedPorts?: Record<string, unknown> | null;
    readonly Volumes?: Record<string, unknown> | null;
    readonly StopSignal?: string;
  } | null;
  readonly RootFS: { readonly Type: string; readonly Layers?: string[] };
}

function inspectImage(ref: string): DockerImage | undefined {
  const r = docker(['image', 'inspect', ref]);
  if (r.status !== 0) return undefined;
  const [img] = JSON.parse(r.stdout) as DockerImage[];
  return img;
}

const ARCH: Record<string, string> = { amd64: 'amd64', arm64: 'arm64' };

/** Apple's `image inspect` shape: name, index descriptor, and per-platform variants carrying the OCI config. */
function appleImage(ref: string, img: DockerImage): unknown {
  const c = img.Config ?? {};
  const config: Record<string, unknown> = {};
  if (c.User) config.User = c.User;
  if (c.Env) config.Env = c.Env;
  if (c.Entrypoint) config.Entrypoint = c.Entrypoint;
  if (c.Cmd) config.Cmd = c.Cmd;
  if (c.WorkingDir) config.WorkingDir = c.WorkingDir;
  if (c.Labels) config.Labels = c.Labels;
  if (c.ExposedPorts) config.ExposedPorts = c.ExposedPorts;
  if (c.StopSignal) config.StopSignal = c.StopSignal;
  const platform = { os: img.Os, architecture: ARCH[img.Architecture] ?? img.Architecture };
  return {
    name: ref,
    index: { digest: img.Id, mediaType: 'application/vnd.oci.image.index.v1+json', size: 0 },
    variants: [
      {
        platform,
        size: img.Size,
        config: {
          created: img.Created,
          architecture: platform.architecture,
          os: platform.os,
          config,
          rootfs: { type: 'layers', diff_ids: img.RootFS.Layers ?? [] },
        },
      },
    ],
  };
}

// ---------------------------------------------------------------- commands

type Handler = (argv: string[]) => void;

const RUN_SPEC: CommandSpec = {
  usage: 'container run [<options>] <image> [<arguments> ...]',
  summary: 'Run a container (emulated with docker run --rm: it is removed as soon as it stops)',
  stopAtPositional: true,
  options: [
    ...PROCESS_OPTIONS,
    opt(['--cpus', '-c'], 'cpus', { value: true }),
    opt(['--memory', '-m'], 'memory', { value: true }),
    opt(['--arch', '-a'], 'arch', { value: true }),
    opt(['--cidfile'], 'cidfile', { value: true }),
    opt(['--detach', '-d'], 'detach'),
    opt(['--dns'], 'dns', { value: true, multiple: true }),
    opt(['--entrypoint'], 'entrypoint', { value: true }),
    opt(['--label', '-l'], 'label', { value: true, multiple: true }),
    opt(['--name'], 'name', { value: true }),
    opt(['--network'], 'network', { value: true }),
    opt(['--no-dns'], 'no-dns'),
    opt(['--os'], 'os', { value: true }),
    opt(['--platform'], 'platform', { value: true }),
    opt(['--rm', '--remove'], 'rm'),
    opt(['--tmpfs'], 'tmpfs', { value: true, multiple: true }),
    opt(['--volume', '-v'], 'volume', { value: true, multiple: true }),
    opt(['--progress'], 'progress', { value: true }),
  ],
};

function processFlags(p: Parsed): string[] {
  const out: string[] = [];
  for (const e of many(p, 'env')) out.push('--env', e);
  for (const f of many(p, 'env-file')) out.push('--env-file', f);
  const user = one(p, 'user');
  const uid = one(p, 'uid');
  const gid = one(p, 'gid');
  if (user) out.push('--user', user);
  else if (uid) out.push('--user', gid ? `${uid}:${gid}` : uid);
  const workdir = one(p, 'workdir');
  if (workdir) out.push('--workdir', workdir);
  if (p.flags.has('interactive')) out.push('--interactive');
  if (p.flags.has('tty')) out.push('--tty');
  return out;
}

function ownNetwork(name: string): void {
  const r = docker(['network', 'inspect', '--format', `{{index .Labels "${LABEL_KEY}"}}`, name]);
  if (r.status !== 0) fail(`Error: notFound: "network ${name} not found"`);
  if (r.stdout.trim() !== LABEL_VALUE) {
    fail(`Error: refusing to use docker network ${name}: it was not created by the container emulator`);
  }
}

const run: Handler = (argv) => {
  const p = parse('run', RUN_SPEC, argv);
  const [image, ...args] = p.positionals;
  if (!image) fail(`Error: Missing expected argument '<image>'\nUsage: ${RUN_SPEC.usage}`, 64);
  const name = one(p, 'name') ?? randomUUID().toLowerCase();
  if (docker(['container', 'inspect', '--format', '{{.Id}}', name]).status === 0) {
    fail(`Error: exists: "container with id ${name} already exists"`);
  }
  const d = ['run', '--rm', '--pull', 'never', '--label', LABEL, '--name', name, '--hostname', name.slice(0, 63)];
  d.push(...processFlags(p));
  const network = one(p, 'network');
  if (network && network !== 'default') {
    ownNetwork(network);
    d.push('--network', network);
  }
  for (const l of many(p, 'label')) d.push('--label', l);
  for (const v of many(p, 'volume')) d.push('--volume', v);
  for (const t of many(p, 'tmpfs')) d.push('--tmpfs', t);
  for (const s of many(p, 'dns')) d.push('--dns', s);
  const cpus = one(p, 'cpus');
  if (cpus) d.push('--cpus', cpus);
  const memory = one(p, 'memory');
  if (memory) d.push('--memory', memory);
  const entrypoint = one(p, 'entrypoint');
  if (entrypoint !== undefined) d.push('--entrypoint', entrypoint);
  if (p.flags.has('detach')) {
    d.push('--detach', image, ...args);
    dockerOk(d, `failed to run ${image}`);
    const cidfile = one(p, 'cidfile');
    if (cidfile) writeFileSync(cidfile, name);
    process.stdout.write(`${name}\n`);
    return;
  }
  d.push(image, ...args);
  dockerPassthrough(d);
};

const EXEC_SPEC: CommandSpec = {
  usage: 'container exec [<options>] <container-id> <arguments> ...',
  summary: 'Run a new process inside a running container',
  stopAtPositional: true,
  options: [...PROCESS_OPTIONS, opt(['--detach', '-d'], 'detach')],
};

const exec: Handler = (argv) => {
  const p = parse('exec', EXEC_SPEC, argv);
  const [id, ...args] = p.positionals;
  if (!id) fail(`Error: Missing expected argument '<container-id>'\nUsage: ${EXEC_SPEC.usage}`, 64);
  if (args.length === 0) fail(`Error: Missing expected argument '<arguments> ...'\nUsage: ${EXEC_SPEC.usage}`, 64);
  const c = ownContainer(id);
  if (!c.State.Running) fail(`Error: invalidState: "container ${id} is not running"`);
  const d = ['exec', ...processFlags(p)];
  if (p.flags.has('detach')) d.push('--detach');
  d.push(id, ...args);
  dockerPassthrough(d);
};

const LIST_SPEC: CommandSpec = {
  usage: 'container list [--all] [--format <format>] [--quiet] [--debug]',
  summary: 'List containers (running only unless --all)',
  options: [
    opt(['--all', '-a'], 'all'),
    opt(['--format'], 'format', { value: true }),
    opt(['--quiet', '-q'], 'quiet'),
  ],
};

interface AppleSnapshot {
  readonly status: string;
  readonly configuration: { readonly id: string; readonly image: { readonly reference: string } } & Record<string, unknown>;
  readonly networks: { readonly network: string; readonly hostname: string; readonly address: string; readonly gateway: string }[];
}

function appleSnapshot(c: DockerContainer): AppleSnapshot {
  const name = c.Name.replace(/^\//, '');
  const nets = Object.entries(c.NetworkSettings.Networks ?? {}).map(([net, info]) => ({
    network: net === 'bridge' ? 'default' : net,
    hostname: name,
    address: info.IPAddress ? `${info.IPAddress}/${info.IPPrefixLen}` : '',
    gateway: info.Gateway,
  }));
  const [exe, ...rest] = [...(c.Config.Entrypoint ?? []), ...(c.Config.Cmd ?? [])];
  const labels = { ...(c.Config.Labels ?? {}) };
  return {
    status: c.State.Running ? 'running' : 'stopped',
    configuration: {
      id: name,
      image: { reference: c.Config.Image, descriptor: { digest: c.Image, mediaType: 'application/vnd.oci.image.index.v1+json', size: 0 } },
      labels,
      hostname: c.Config.Hostname,
      networks: nets.map((n) => ({ network: n.network, options: { hostname: name } })),
      platform: { os: 'linux', architecture: 'arm64' },
      resources: { cpus: c.HostConfig.NanoCpus ? c.HostConfig.NanoCpus / 1e9 : 4, memoryInBytes: c.HostConfig.Memory || 1024 ** 3 },
      mounts: (c.Mounts ?? []).map((m) => ({ source: m.Source, destination: m.Destination, options: m.RW ? [] : ['ro'] })),
      initProcess: {
        executable: exe ?? '',
        arguments: rest,
        environment: c.Config.Env ?? [],
        workingDirectory: c.Config.WorkingDir || '/',
        terminal: c.Config.Tty,
        user: { raw: { userString: c.Config.User || 'root' } },
      },
      runtimeHandler: 'container-runtime-linux',
      rosetta: false,
    },
    networks: nets,
  };
}

const list: Handler = (argv) => {
  const p = parse('list', LIST_SPEC, argv);
  const all = p.flags.has('all');
  const format = one(p, 'format') ?? 'table';
  if (format !== 'json' && format !== 'table') {
    fail(`Error: The value '${format}' is invalid for '--format <format>'. Please provide one of 'json' and 'table'.`, 64);
  }
  const names = ownedContainerNames(all);
  if (p.flags.has('quiet')) {
    process.stdout.write(names.map((n) => `${n}\n`).join(''));
    return;
  }
  const snapshots = inspectContainers(names).map(appleSnapshot);
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(snapshots)}\n`);
    return;
  }
  const rows = [['ID', 'IMAGE', 'OS', 'ARCH', 'STATE', 'ADDR']];
  for (const s of snapshots) {
    rows.push([s.configuration.id, s.configuration.image.reference, 'linux', 'arm64', s.status, s.networks[0]?.address ?? '']);
  }
  process.stdout.write(table(rows));
};

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd((widths[i] ?? 0) + 2)).join('').trimEnd()).join('\n') + '\n';
}

/**
 * `stop` and `delete` on each id, as Apple's CLI does them: an id that fails
 * prints its error and the rest go on; the id is printed once its container
 * is gone; the exit status is 1 if any failed.
 */
function forEachContainer(ids: readonly string[], action: (id: string) => void): void {
  let failed = false;
  for (const id of ids) {
    try {
      action(id);
      waitGone(id);
      process.stdout.write(`${id}\n`);
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      process.stderr.write(`${error.message}\n`);
      failed = true;
    }
  }
  if (failed) process.exit(1);
}

const STOP_SPEC: CommandSpec = {
  usage: 'container stop [--all] [--signal <signal>] [--time <time>] [--debug] [<container-ids> ...]',
  summary: 'Stop running containers (the emulator, like the real tool, then removes them)',
  options: [
    opt(['--all', '-a'], 'all'),
    opt(['--signal', '-s'], 'signal', { value: true }),
    opt(['--time', '-t'], 'time', { value: true }),
  ],
};

const stop: Handler = (argv) => {
  const p = parse('stop', STOP_SPEC, argv);
  const ids = p.flags.has('all') ? ownedContainerNames(false) : p.positionals;
  const signal = one(p, 'signal');
  const time = one(p, 'time') ?? '5';
  forEachContainer(ids, (id) => {
    ownContainer(id);
    if (signal && !/^(SIG)?TERM$/i.test(signal)) dockerOk(['kill', '--signal', signal, id], `failed to stop ${id}`);
    else dockerOk(['stop', '--time', time, id], `failed to stop ${id}`);
  });
};

const DELETE_SPEC: CommandSpec = {
  usage: 'container delete [--all] [--force] [--debug] [<container-ids> ...]',
  summary: 'Delete containers',
  options: [opt(['--all', '-a'], 'all'), opt(['--force', '-f'], 'force')],
};

const del: Handler = (argv) => {
  const p = parse('delete', DELETE_SPEC, argv);
  const ids = p.flags.has('all') ? ownedContainerNames(true) : p.positionals;
  forEachContainer(ids, (id) => {
    const c = ownContainer(id);
    if (c.State.Running && !p.flags.has('force')) {
      fail(`Error: invalidState: "container ${id} is running; stop it or use --force"`);
    }
    const r = docker(['rm', '--force', id]);
    // `--rm` may already be removing it: that is success too.
    if (r.status !== 0 && !/No such container|already in progress/i.test(r.stderr)) {
      fail(`Error: failed to delete ${id}: ${r.stderr.trim()}`);
    }
  });
};

const EXPORT_SPEC: CommandSpec = {
  usage: 'container export [--output <output>] [--debug] <container-id>',
  summary: "Export a stopped container's filesystem (never succeeds: a stopped container is already gone)",
  options: [opt(['--output', '-o'], 'output', { value: true })],
};

const exportCmd: Handler = (argv) => {
  const p = parse('export', EXPORT_SPEC, argv);
  const [id] = p.positionals;
  if (!id) fail(`Error: Missing expected argument '<container-id>'\nUsage: ${EXPORT_SPEC.usage}`, 64);
  const c = ownContainer(id);
  if (c.State.Running) fail(`Error: invalidState: "container ${id} is running; export needs a stopped container"`);
  // Unreachable in practice: a stopped container is removed at once.
  fail(`Error: notFound: "container ${id} not found"`);
};

// -- networks

const NETWORK_CREATE_SPEC: CommandSpec = {
  usage: 'container network create [--label <label> ...] [--debug] <name>',
  summary: 'Create a network',
  options: [opt(['--label'], 'label', { value: true, multiple: true })],
};
const NETWORK_DELETE_SPEC: CommandSpec = {
  usage: 'container network delete [--all] [--debug] [<network-names> ...]',
  summary: 'Delete networks',
  options: [opt(['--all', '-a'], 'all')],
};
const NETWORK_LIST_SPEC: CommandSpec = {
  usage: 'container network list [--format <format>] [--quiet] [--debug]',
  summary: 'List networks',
  options: [opt(['--format'], 'format', { value: true }), opt(['--quiet', '-q'], 'quiet')],
};

function ownedNetworks(): string[] {
  return dockerOk(['network', 'ls', '--filter', `label=${LABEL}`, '--format', '{{.Name}}'], 'cannot list networks')
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

const network: Handler = (argv) => {
  const [sub, ...rest] = argv;
  if (sub === 'create') {
    const p = parse('network create', NETWORK_CREATE_SPEC, rest);
    const [name] = p.positionals;
    if (!name) fail(`Error: Missing expected argument '<name>'\nUsage: ${NETWORK_CREATE_SPEC.usage}`, 64);
    if (docker(['network', 'inspect', '--format', '{{.Id}}', name]).status === 0) {
      fail(`Error: exists: "network ${name} already exists"`);
    }
    const d = ['network', 'create', '--label', LABEL];
    for (const l of many(p, 'label')) d.push('--label', l);
    dockerOk([...d, name], `failed to create network ${name}`);
    process.stdout.write(`${name}\n`);
    return;
  }
  if (sub === 'delete' || sub === 'rm') {
    const p = parse('network delete', NETWORK_DELETE_SPEC, rest);
    const names = p.flags.has('all') ? ownedNetworks() : p.positionals;
    for (const name of names) {
      ownNetwork(name);
      dockerOk(['network', 'rm', name], `failed to delete network ${name}`);
      process.stdout.write(`${name}\n`);
    }
    return;
  }
  if (sub === 'list' || sub === 'ls') {
    const p = parse('network list', NETWORK_LIST_SPEC, rest);
    const names = ownedNetworks();
    if (p.flags.has('quiet')) process.stdout.write(names.map((n) => `${n}\n`).join(''));
    else if (one(p, 'format') === 'json') {
      process.stdout.write(`${JSON.stringify(names.map((id) => ({ id, state: 'running', config: { id } })))}\n`);
    } else process.stdout.write(table([['NETWORK', 'STATE'], ...names.map((n) => [n, 'running'])]));
    return;
  }
  unknownSubcommand('network', sub, ['create', 'delete', 'list']);
};

// -- images and builds

const BUILD_SPEC: CommandSpec = {
  usage: 'container build [<options>] [<context-dir>]',
  summary: 'Build an image from a Dockerfile (emulated with the docker engine\'s builder)',
  options: [
    opt(['--arch', '-a'], 'arch', { value: true, multiple: true }),
    opt(['--build-arg'], 'build-arg', { value: true, multiple: true }),
    opt(['--cpus', '-c'], 'cpus', { value: true }),
    opt(['--file', '-f'], 'file', { value: true }),
    opt(['--label', '-l'], 'label', { value: true, multiple: true }),
    opt(['--memory', '-m'], 'memory', { value: true }),
    opt(['--no-cache'], 'no-cache'),
    opt(['--output', '-o'], 'output', { value: true }),
    opt(['--os'], 'os', { value: true, multiple: true }),
    opt(['--platform'], 'platform', { value: true, multiple: true }),
    opt(['--progress'], 'progress', { value: true }),
    opt(['--quiet', '-q'], 'quiet'),
    opt(['--tag', '-t'], 'tag', { value: true, multiple: true }),
    opt(['--target'], 'target', { value: true }),
    opt(['--vsock-port'], 'vsock-port', { value: true }),
  ],
};

const build: Handler = (argv) => {
  const p = parse('build', BUILD_SPEC, argv);
  const context = p.positionals[0] ?? '.';
  if (p.positionals.length > 1) fail(`Error: Unexpected argument '${p.positionals[1]}'\nUsage: ${BUILD_SPEC.usage}`, 64);
  // Like the real tool, a build starts the builder when it is not running.
  if (!readBuilder().running) startBuilder();
  const d = ['build', '--label', LABEL];
  for (const t of many(p, 'tag')) d.push('--tag', t);
  const file = one(p, 'file');
  if (file) d.push('--file', file);
  for (const a of many(p, 'build-arg')) d.push('--build-arg', a);
  for (const l of many(p, 'label')) d.push('--label', l);
  if (p.flags.has('no-cache')) d.push('--no-cache');
  if (p.flags.has('quiet')) d.push('--quiet');
  const target = one(p, 'target');
  if (target) d.push('--target', target);
  d.push(context);
  // The engine here has no buildx: use its classic builder. Build output goes to stderr.
  dockerPassthrough(d, { stdoutToStderr: true, env: { ...process.env, DOCKER_BUILDKIT: '0' } });
};

const IMAGE_LIST_SPEC: CommandSpec = {
  usage: 'container image list [--format <format>] [--quiet] [--verbose] [--debug]',
  summary: 'List images',
  options: [opt(['--format'], 'format', { value: true }), opt(['--quiet', '-q'], 'quiet'), opt(['--verbose', '-v'], 'verbose')],
};
const IMAGE_INSPECT_SPEC: CommandSpec = {
  usage: 'container image inspect [--debug] <images> ...',
  summary: 'Show image details as JSON',
  options: [],
};
const IMAGE_SAVE_SPEC: CommandSpec = {
  usage: 'container image save [--arch <arch>] [--os <os>] --output <output> [--platform <platform>] [--debug] <references> ...',
  summary: 'Save images to a tar archive',
  options: [
    opt(['--arch', '-a'], 'arch', { value: true }),
    opt(['--os'], 'os', { value: true }),
    opt(['--output', '-o'], 'output', { value: true }),
    opt(['--platform'], 'platform', { value: true }),
  ],
};
const IMAGE_LOAD_SPEC: CommandSpec = {
  usage: 'container image load --input <input> [--debug]',
  summary: 'Load images from a tar archive',
  options: [opt(['--input', '-i'], 'input', { value: true })],
};
const IMAGE_TAG_SPEC: CommandSpec = {
  usage: 'container image tag <source> <target> [--debug]',
  summary: 'Tag an image',
  options: [],
};
const IMAGE_PRUNE_SPEC: CommandSpec = {
  usage: 'container image prune [--all] [--debug]',
  summary: 'Remove unreferenced images (only those the emulator built)',
  options: [opt(['--all', '-a'], 'all')],
};
const IMAGE_DELETE_SPEC: CommandSpec = {
  usage: 'container image delete [--all] [--debug] [<images> ...]',
  summary: 'Delete images (only those the emulator built)',
  options: [opt(['--all', '-a'], 'all')],
};

const image: Handler = (argv) => {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'build':
      return build(rest);
    case 'list':
    case 'ls': {
      const p = parse('image list', IMAGE_LIST_SPEC, rest);
      const refs = dockerOk(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}\t{{.ID}}'], 'cannot list images')
        .split('\n')
        .filter((l) => l && !l.startsWith('<none>'))
        .map((l) => l.split('\t') as [string, string]);
      if (p.flags.has('quiet')) process.stdout.write(refs.map(([r]) => `${r}\n`).join(''));
      else if (one(p, 'format') === 'json') {
        const out = refs.map(([reference, id]) => ({
          reference,
          descriptor: { digest: id, mediaType: 'application/vnd.oci.image.index.v1+json', size: 0 },
        }));
        process.stdout.write(`${JSON.stringify(out)}\n`);
      } else {
        const rows = [['NAME', 'TAG', 'DIGEST']];
        for (const [r, id] of refs) {
          const at = r.lastIndexOf(':');
          rows.push([r.slice(0, at), r.slice(at + 1), id]);
        }
        process.stdout.write(table(rows));
      }
      return;
    }
    case 'inspect': {
      const p = parse('image inspect', IMAGE_INSPECT_SPEC, rest);
      if (p.positionals.length === 0) fail(`Error: Missing expected argument '<images> ...'\nUsage: ${IMAGE_INSPECT_SPEC.usage}`, 64);
      const out: unknown[] = [];
      for (const ref of p.positionals) {
        const img = inspectImage(ref);
        if (!img) fail(`Error: notFound: "image ${ref} not found"`);
        out.push(appleImage(ref, img));
      }
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return;
    }
    case 'save': {
      const p = parse('image save', IMAGE_SAVE_SPEC, rest);
      const output = one(p, 'output');
      if (!output) fail(`Error: Missing expected argument '--output <output>'\nUsage: ${IMAGE_SAVE_SPEC.usage}`, 64);
      if (p.positionals.length === 0) fail(`Error: Missing expected argument '<references> ...'\nUsage: ${IMAGE_SAVE_SPEC.usage}`, 64);
      for (const ref of p.positionals) if (!inspectImage(ref)) fail(`Error: notFound: "image ${ref} not found"`);
      dockerOk(['save', '--output', output, ...p.positionals], 'failed to save images');
      return;
    }
    case 'load': {
      const p = parse('image load', IMAGE_LOAD_SPEC, rest);
      const input = one(p, 'input');
      if (!input) fail(`Error: Missing expected argument '--input <input>'\nUsage: ${IMAGE_LOAD_SPEC.usage}`, 64);
      process.stdout.write(dockerOk(['load', '--input', input], 'failed to load images'));
      return;
    }
    case 'tag': {
      const p = parse('image tag', IMAGE_TAG_SPEC, rest);
      const [source, target] = p.positionals;
      if (!source || !target) fail(`Error: Missing expected argument\nUsage: ${IMAGE_TAG_SPEC.usage}`, 64);
      const img = inspectImage(source);
      if (!img) fail(`Error: notFound: "image ${source} not found"`);
      const existing = inspectImage(target);
      if (existing && existing.Config?.Labels?.[LABEL_KEY] !== LABEL_VALUE) {
        fail(`Error: refusing to retag ${target}: it names a docker image the container emulator did not build`);
      }
      dockerOk(['tag', source, target], `failed to tag ${source}`);
      return;
    }
    case 'delete':
    case 'rm': {
      const p = parse('image delete', IMAGE_DELETE_SPEC, rest);
      const refs = p.flags.has('all')
        ? dockerOk(['image', 'ls', '--filter', `label=${LABEL}`, '--format', '{{.Repository}}:{{.Tag}}'], 'cannot list images')
            .split('\n')
            .filter((l) => l && !l.startsWith('<none>'))
        : p.positionals;
      for (const ref of refs) {
        const img = inspectImage(ref);
        if (!img) fail(`Error: notFound: "image ${ref} not found"`);
        if (img.Config?.Labels?.[LABEL_KEY] !== LABEL_VALUE) {
          fail(`Error: refusing to delete docker image ${ref}: it was not built by the container emulator`);
        }
        const r = docker(['image', 'rm', ref]);
        if (r.status !== 0 && /conflict|being used|is using/i.test(r.stderr)) {
          // As documented for the real tool: an image a container uses cannot be deleted.
          fail(`Error: invalidState: "image ${ref} is in use by a container; delete the container first"`);
        }
        if (r.status !== 0) fail(`Error: failed to delete image ${ref}: ${r.stderr.trim()}`);
        process.stdout.write(`${ref}\n`);
      }
      return;
    }
    case 'prune': {
      const p = parse('image prune', IMAGE_PRUNE_SPEC, rest);
      // Like the real store, a replaced or deleted reference leaves its content until a prune.
      const out = dockerOk(
        ['image', 'prune', '--force', ...(p.flags.has('all') ? ['--all'] : []), '--filter', `label=${LABEL}`],
        'failed to prune images',
      );
      const reclaimed = /Total reclaimed space:\s*(.*)/.exec(out)?.[1]?.trim() ?? '0B';
      process.stdout.write(`Reclaimed ${reclaimed} in disk space\n`);
      return;
    }
    default:
      unknownSubcommand('image', sub, ['build', 'delete', 'inspect', 'list', 'load', 'prune', 'save', 'tag']);
  }
};

// -- builder and system

const BUILDER_STATUS_SPEC: CommandSpec = {
  usage: 'container builder status [--format <format>] [--quiet] [--debug]',
  summary: 'Show the builder status',
  options: [opt(['--format'], 'format', { value: true }), opt(['--quiet', '-q'], 'quiet')],
};
const BUILDER_START_SPEC: CommandSpec = {
  usage: 'container builder start [--cpus <cpus>] [--memory <memory>] [--debug]',
  summary: 'Start the builder',
  options: [opt(['--cpus', '-c'], 'cpus', { value: true }), opt(['--memory', '-m'], 'memory', { value: true })],
};
const BUILDER_STOP_SPEC: CommandSpec = { usage: 'container builder stop [--debug]', summary: 'Stop the builder', options: [] };
const BUILDER_DELETE_SPEC: CommandSpec = {
  usage: 'container builder delete [--force] [--debug]',
  summary: 'Delete the builder',
  options: [opt(['--force', '-f'], 'force')],
};

const builder: Handler = (argv) => {
  const [sub, ...rest] = argv;
  if (sub === 'status') {
    const p = parse('builder status', BUILDER_STATUS_SPEC, rest);
    const state = readBuilder();
    if (!state.running) {
      if (one(p, 'format') === 'json') process.stdout.write('[]\n');
      else process.stdout.write('builder is not running\n');
      return;
    }
    if (p.flags.has('quiet')) {
      process.stdout.write('buildkit\n');
      return;
    }
    const snapshot = {
      status: 'running',
      configuration: {
        id: 'buildkit',
        image: { reference: 'ghcr.io/apple/container-builder-shim/builder:emulated' },
        dns: { nameservers: state.nameservers, searchDomains: [], options: [] },
        networks: [{ network: 'default', options: { hostname: 'buildkit' } }],
      },
      networks: [{ network: 'default', hostname: 'buildkit', address: '192.168.64.2/24', gateway: GATEWAY }],
    };
    if (one(p, 'format') === 'json') process.stdout.write(`${JSON.stringify([snapshot])}\n`);
    else process.stdout.write(table([['ID', 'IMAGE', 'STATE', 'ADDR'], ['buildkit', snapshot.configuration.image.reference, 'running', '192.168.64.2']]));
    return;
  }
  if (sub === 'start') {
    parse('builder start', BUILDER_START_SPEC, rest);
    if (!readBuilder().running) startBuilder();
    return;
  }
  if (sub === 'stop') {
    parse('builder stop', BUILDER_STOP_SPEC, rest);
    const state = readBuilder();
    writeBuilder({ ...state, running: false }, 'stop');
    return;
  }
  if (sub === 'delete' || sub === 'rm') {
    const p = parse('builder delete', BUILDER_DELETE_SPEC, rest);
    const state = readBuilder();
    if (state.running && !p.flags.has('force')) fail('Error: invalidState: "builder is running; stop it or use --force"');
    writeBuilder({ running: false, nameservers: [] }, 'delete');
    return;
  }
  unknownSubcommand('builder', sub, ['delete', 'start', 'status', 'stop']);
};

const SYSTEM_STATUS_SPEC: CommandSpec = {
  usage: 'container system status [--prefix <prefix>] [--debug]',
  summary: 'Show the status of the container services',
  options: [opt(['--prefix', '-p'], 'prefix', { value: true })],
};

const system: Handler = (argv) => {
  const [sub, ...rest] = argv;
  if (sub === 'status') {
    parse('system status', SYSTEM_STATUS_SPEC, rest);
    // CONTAINER_EMULATOR_SYSTEM=stopped lets tests see the "services not running" answer.
    const up = process.env.CONTAINER_EMULATOR_SYSTEM !== 'stopped' && docker(['version', '--format', '{{.Server.Version}}']).status === 0;
    if (!up) {
      process.stdout.write('apiserver is not running and not registered with launchd (container emulator: docker engine unreachable)\n');
      process.exit(1);
    }
    process.stdout.write('apiserver is running (container emulator on a docker engine)\n');
    return;
  }
  unknownSubcommand('system', sub, ['status']);
};

// ---------------------------------------------------------------- dispatch

const COMMANDS: Record<string, Handler> = {
  run,
  exec,
  list,
  ls: list,
  stop,
  delete: del,
  rm: del,
  export: exportCmd,
  build,
  image,
  i: image,
  network,
  n: network,
  builder,
  system,
  s: system,
};

const TOP_HELP = `OVERVIEW: EMULATOR of Apple's \`container\` CLI, running on a Docker engine (bot-bottle test fixture).

It is not Apple's tool. It implements the subset bot-bottle's macos-container
backend uses, with Apple's argument shapes and these behaviours of the real
tool: containers are removed as soon as they stop; \`export\` needs a stopped
container and so always fails; unknown options fail with exit 64.
It only touches docker objects labelled ${LABEL}.

USAGE: container <subcommand>

SUBCOMMANDS:
  run, exec, list (ls), stop, delete (rm), export, build
  image build|list|inspect|save|load|tag|delete|prune
  network create|delete|list
  builder status|start|stop|delete
  system status
`;

function unknownSubcommand(group: string, sub: string | undefined, known: string[]): never {
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(`OVERVIEW: container ${group} (emulator)\n\nSUBCOMMANDS: ${known.join(', ')}\n`);
    process.exit(sub === undefined ? 64 : 0);
  }
  fail(`Error: Unexpected argument '${sub}'\nUsage: container ${group} <subcommand>\n  See 'container ${group} --help' for more information.`, 64);
}

function main(argv: string[]): void {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(TOP_HELP);
    process.exit(command === undefined ? 64 : 0);
  }
  if (command === '--version' || command === 'version' || command === '-v') {
    process.stdout.write('container CLI version 0.0.0-emulator (bot-bottle container emulator)\n');
    return;
  }
  const handler = COMMANDS[command];
  if (!handler) {
    if (command.startsWith('-')) fail(`Error: Unknown option '${command}'\nUsage: container <subcommand>\n  See 'container --help' for more information.`, 64);
    fail(`Error: Unexpected argument '${command}'\nUsage: container <subcommand>\n  See 'container --help' for more information.`, 64);
  }
  handler(rest);
}

try {
  main(process.argv.slice(2));
} catch (error) {
  if (error instanceof CliError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(error.code);
  }
  throw error;
}
