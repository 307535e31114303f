// smolvm EMULATOR — a CLI-compatible stand-in for `smolvm` (libkrun microVMs)
// that runs each "machine" as a container on the local Docker engine.
//
// It exists so bot-bottle's smolmachines backend can be exercised where
// libkrun cannot run. It reproduces the argument shapes, exit codes and
// output formats of the real CLI for the subset the backend uses, and the
// quirks the original implementation learned the hard way (see README.md).
// Only node built-ins; shells out to `docker`, `skopeo` and `tar`.
import { spawn, spawnSync } from 'node:child_process';
import type { SpawnSyncOptions } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
  chmodSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { isatty } from 'node:tty';
import { remapTarOwners } from './tar-owners.ts';

// ---------------------------------------------------------------------------
// Knobs
// ---------------------------------------------------------------------------

const env = process.env;
const LABEL = 'dev.bot-bottle.emulator';
const LABEL_VALUE = 'smolvm';
const LABEL_MACHINE = 'dev.bot-bottle.emulator.machine';
const LABEL_HOME = 'dev.bot-bottle.emulator.home';
const CONTAINER_PREFIX = 'smolvm-emu-';
const PAYLOAD_FORMAT = 'bot-bottle-smolvm-emulator-payload/1';
const BINARY_STDOUT_LIMIT = 64 * 1024;

function envInt(name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  return Number.isFinite(n) ? n : fallback;
}
const truthy = (name: string): boolean => ['1', 'true', 'yes', 'on'].includes((env[name] ?? '').toLowerCase());

const HOME = resolve(env.SMOLVM_EMULATOR_HOME || join(homedir(), '.smolvm-emulator'));
const PRESERVE_OWNERS = truthy('SMOLVM_EMULATOR_PRESERVE_OWNERS');
const HOST_UID = envInt('SMOLVM_EMULATOR_HOST_UID', 501);
const HOST_GID = envInt('SMOLVM_EMULATOR_HOST_GID', 20);
const WARMUP_MS = envInt('SMOLVM_EMULATOR_EXEC_WARMUP_MS', 1500);
const KILL_FIRST_EXEC = truthy('SMOLVM_EMULATOR_KILL_FIRST_EXEC');
const KILL_MATCH = env.SMOLVM_EMULATOR_KILL_EXEC_MATCH ?? '';
const KILL_PROBABILITY = envInt('SMOLVM_EMULATOR_KILL_PROBABILITY', 0);
const PROVISIONING_MS = envInt('SMOLVM_EMULATOR_PROVISIONING_MS', 30_000);
const STDOUT_CHECK = !['0', 'false', 'no', 'off'].includes((env.SMOLVM_EMULATOR_STDOUT_CHECK ?? '1').toLowerCase());
const EMULATED_VERSION = env.SMOLVM_EMULATOR_VERSION || (PRESERVE_OWNERS ? '1.8.1' : '1.8.0');
const DOCKER = env.SMOLVM_EMULATOR_DOCKER || 'docker';
const SKOPEO = env.SMOLVM_EMULATOR_SKOPEO || 'skopeo';

// ---------------------------------------------------------------------------
// Errors and output
// ---------------------------------------------------------------------------

/** A runtime failure: `Error: <message>` on stderr, exit 1 (as smolvm does). */
class CliError extends Error {
  code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.code = code;
  }
}
/** An argument error in clap's format, exit 2. */
class UsageError extends Error {
  usage: string;
  constructor(message: string, usage: string) {
    super(message);
    this.usage = usage;
  }
}
/** Leave with this code and nothing more on stderr. */
class SilentExit extends Error {
  code: number;
  constructor(code: number) {
    super(`exit ${code}`);
    this.code = code;
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function writeAll(fd: number, data: Buffer | string): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        sleepMs(2);
        continue;
      }
      if (code === 'EPIPE') return;
      throw e;
    }
  }
}
const out = (s: string): void => writeAll(1, s);
const err = (s: string): void => writeAll(2, s);

// ---------------------------------------------------------------------------
// Argument parsing (clap-like)
// ---------------------------------------------------------------------------

interface FlagSpec {
  long: string;
  short?: string;
  /** Value name when the flag takes a value; absent for a boolean switch. */
  value?: string;
  multi?: boolean;
  help: string;
  validate?: (v: string) => string | undefined;
}
interface CmdSpec {
  path: string; // e.g. "machine exec"
  about: string;
  usage: string;
  flags: FlagSpec[];
  positionals: { name: string; required: boolean; help: string }[];
  /** Collect a trailing COMMAND... (after `--`, or from the first free word). */
  trailing?: { name: string; required: boolean };
}
interface Parsed {
  flags: Map<string, string[]>;
  bools: Set<string>;
  positionals: string[];
  trailing: string[];
}

function helpText(spec: CmdSpec): string {
  const lines = [`${spec.about}`, '', `(smolvm EMULATOR: Docker-backed stand-in for bot-bottle tests; not the real smolvm.)`, '', `Usage: ${spec.usage}`, ''];
  if (spec.positionals.length || spec.trailing) {
    lines.push('Arguments:');
    for (const p of spec.positionals) lines.push(`  ${p.required ? `<${p.name}>` : `[${p.name}]`}  ${p.help}`);
    if (spec.trailing) lines.push(`  ${spec.trailing.required ? `<${spec.trailing.name}>...` : `[${spec.trailing.name}]...`}  command and arguments`);
    lines.push('');
  }
  lines.push('Options:');
  for (const f of spec.flags) {
    const names = `${f.short ? `${f.short}, ` : '    '}${f.long}${f.value ? ` <${f.value}>` : ''}`;
    lines.push(`  ${names.padEnd(30)} ${f.help}`);
  }
  lines.push(`  ${'-h, --help'.padEnd(30)} Print help`);
  return lines.join('\n') + '\n';
}

function parseArgs(argv: string[], spec: CmdSpec): Parsed {
  const res: Parsed = { flags: new Map(), bools: new Set(), positionals: [], trailing: [] };
  const byLong = new Map(spec.flags.map((f) => [f.long, f]));
  const byShort = new Map(spec.flags.filter((f) => f.short).map((f) => [f.short as string, f]));
  const setValue = (f: FlagSpec, v: string): void => {
    if (f.validate) {
      const problem = f.validate(v);
      if (problem) throw new UsageError(`invalid value '${v}' for '${f.long} <${f.value}>': ${problem}`, spec.usage);
    }
    const prev = res.flags.get(f.long);
    if (prev && !f.multi) throw new UsageError(`the argument '${f.long} <${f.value}>' cannot be used multiple times`, spec.usage);
    res.flags.set(f.long, [...(prev ?? []), v]);
  };
  let i = 0;
  while (i < argv.length) {
    const a = argv[i] as string;
    if (a === '--') {
      if (!spec.trailing) {
        if (argv.length > i + 1) throw new UsageError(`unexpected argument '${argv[i + 1]}' found`, spec.usage);
        break;
      }
      res.trailing = argv.slice(i + 1);
      break;
    }
    if (a === '--help' || a === '-h') {
      out(helpText(spec));
      throw new SilentExit(0);
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a : a.slice(0, eq);
      const f = byLong.get(name);
      if (!f) throw new UsageError(`unexpected argument '${name}' found`, spec.usage);
      if (f.value) {
        let v: string | undefined;
        if (eq >= 0) v = a.slice(eq + 1);
        else {
          v = argv[i + 1];
          i++;
        }
        if (v === undefined) throw new UsageError(`a value is required for '${f.long} <${f.value}>' but none was supplied`, spec.usage);
        setValue(f, v);
      } else {
        if (eq >= 0) throw new UsageError(`unexpected value '${a.slice(eq + 1)}' for '${f.long}' found; no more were expected`, spec.usage);
        res.bools.add(f.long);
      }
      i++;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // Short flags, possibly clustered (-it) or with an attached value (-eK=V).
      let j = 1;
      while (j < a.length) {
        const ch = `-${a[j]}`;
        const f = byShort.get(ch);
        if (!f) throw new UsageError(`unexpected argument '${ch}' found`, spec.usage);
        if (f.value) {
          let v = a.slice(j + 1);
          if (v.startsWith('=')) v = v.slice(1);
          if (v === '') {
            const next = argv[i + 1];
            i++;
            if (next === undefined) throw new UsageError(`a value is required for '${f.long} <${f.value}>' but none was supplied`, spec.usage);
            v = next;
          }
          setValue(f, v);
          break;
        }
        res.bools.add(f.long);
        j++;
      }
      i++;
      continue;
    }
    if (res.positionals.length < spec.positionals.length) {
      res.positionals.push(a);
      i++;
      continue;
    }
    if (spec.trailing) {
      res.trailing = argv.slice(i);
      break;
    }
    throw new UsageError(`unexpected argument '${a}' found`, spec.usage);
  }
  const missing: string[] = [];
  spec.positionals.forEach((p, idx) => {
    if (p.required && res.positionals[idx] === undefined) missing.push(`<${p.name}>`);
  });
  if (spec.trailing?.required && res.trailing.length === 0) missing.push(`<${spec.trailing.name}>...`);
  if (missing.length) throw new UsageError(`the following required arguments were not provided:\n  ${missing.join('\n  ')}`, spec.usage);
  return res;
}

const one = (p: Parsed, long: string): string | undefined => p.flags.get(long)?.[0];
const many = (p: Parsed, long: string): string[] => p.flags.get(long) ?? [];

function validateEnv(v: string): string | undefined {
  return v.includes('=') && !v.startsWith('=') ? undefined : 'expected KEY=VALUE';
}
function validateCidr(v: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(v);
  if (m) {
    const octets = m.slice(1, 5).map(Number);
    const prefix = m[5] === undefined ? 32 : Number(m[5]);
    if (octets.every((o) => o <= 255) && prefix <= 32) return undefined;
  }
  if (/^[0-9a-fA-F:]+(\/\d{1,3})?$/.test(v) && v.includes(':')) return undefined;
  return `invalid CIDR '${v}'`;
}
function parseDuration(v: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)\s*(ms|msec|s|sec|secs|m|min|mins|h|hr|hrs)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  const units: Record<string, number> = { ms: 1, msec: 1, s: 1000, sec: 1000, secs: 1000, m: 60_000, min: 60_000, mins: 60_000, h: 3_600_000, hr: 3_600_000, hrs: 3_600_000 };
  while ((m = re.exec(v)) !== null) {
    total += Number(m[1]) * (units[m[2] as string] ?? 0);
    matched = re.lastIndex;
  }
  return matched === v.length && v.length > 0 ? total : undefined;
}

// ---------------------------------------------------------------------------
// Process helpers
// ---------------------------------------------------------------------------

interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}
function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...opts });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`${cmd} not found on PATH (the smolvm emulator needs it)`);
    throw new CliError(`${cmd}: ${r.error.message}`);
  }
  return {
    status: r.status ?? 128 + 9,
    stdout: typeof r.stdout === 'string' ? r.stdout : String(r.stdout ?? ''),
    stderr: typeof r.stderr === 'string' ? r.stderr : String(r.stderr ?? ''),
  };
}
function docker(args: string[], what: string, opts: SpawnSyncOptions = {}): string {
  const r = run(DOCKER, args, opts);
  if (r.status !== 0) throw new CliError(`${what}: ${r.stderr.trim() || `docker exited ${r.status}`}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

interface ImageConfig {
  User?: string;
  WorkingDir?: string;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
}
interface MachineRecord {
  name: string;
  /** Image reference the machine came from (for --from: the packed image's). */
  image: string | null;
  source_smolmachine: string | null;
  docker_image: string;
  network: boolean;
  allowed_cidrs: string[] | null;
  env: string[];
  workdir: string | null;
  cpus: number;
  memory_mib: number;
  volumes: string[];
  ports: string[];
  created_at: string;
  started_at_ms: number | null;
  start_id: string | null;
  emulator: true;
}

const machinesDir = (): string => join(HOME, 'machines');
const runDir = (): string => join(HOME, 'run');
const recordPath = (name: string): string => join(machinesDir(), `${name}.json`);
const containerName = (name: string): string => `${CONTAINER_PREFIX}${name}`;

function validateName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) {
    throw new CliError(`invalid machine name '${name}': use letters, digits, '-', '_' or '.', starting with a letter or digit`);
  }
}
function loadRecord(name: string): MachineRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(name), 'utf8')) as MachineRecord;
  } catch {
    return undefined;
  }
}
function saveRecord(rec: MachineRecord): void {
  mkdirSync(machinesDir(), { recursive: true });
  const tmp = `${recordPath(rec.name)}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(rec, null, 2) + '\n');
  renameSync(tmp, recordPath(rec.name));
}
function dropRecord(name: string): void {
  rmSync(recordPath(name), { force: true });
  for (const f of safeReaddir(runDir())) if (f.startsWith(`${name}.`)) rmSync(join(runDir(), f), { force: true });
}
function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
function allRecords(): MachineRecord[] {
  return safeReaddir(machinesDir())
    .filter((f) => f.endsWith('.json'))
    .map((f) => loadRecord(f.slice(0, -'.json'.length)))
    .filter((r): r is MachineRecord => r !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name));
}

interface ContainerInfo {
  running: boolean;
  status: string;
  pid: number;
}
/** Inspect the machine's container; refuses containers the emulator did not create. */
function inspectContainer(name: string): ContainerInfo | undefined {
  const r = run(DOCKER, ['container', 'inspect', '--format', '{{json .}}', containerName(name)]);
  if (r.status !== 0) return undefined;
  const info = JSON.parse(r.stdout) as { State: { Running: boolean; Status: string; Pid: number }; Config: { Labels: Record<string, string> | null } };
  const labels = info.Config.Labels ?? {};
  if (labels[LABEL] !== LABEL_VALUE) {
    throw new CliError(`container '${containerName(name)}' exists but was not created by the smolvm emulator (no ${LABEL}=${LABEL_VALUE} label); refusing to touch it`);
  }
  if (labels[LABEL_HOME] !== HOME) {
    throw new CliError(`container '${containerName(name)}' belongs to another smolvm emulator home (${labels[LABEL_HOME]}); refusing to touch it`);
  }
  return { running: info.State.Running, status: info.State.Status, pid: info.State.Pid };
}
function removeContainer(name: string): void {
  if (inspectContainer(name) !== undefined) docker(['rm', '-f', containerName(name)], `remove machine '${name}'`);
}

function stateOf(rec: MachineRecord): 'running' | 'stopped' {
  const c = inspectContainer(rec.name);
  return c?.running ? 'running' : 'stopped';
}

// ---------------------------------------------------------------------------
// Images: pull (skopeo), flatten, pack payloads, import payloads
// ---------------------------------------------------------------------------

const shortHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

function fileDigest(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let n: number;
    while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** Pull REF over the OCI distribution protocol with skopeo into the local engine. */
function pullImage(ref: string): string {
  const tag = `${CONTAINER_PREFIX}image:${shortHash(ref)}`;
  const r = run(SKOPEO, ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `docker-daemon:${tag}`]);
  if (r.status !== 0) {
    throw new CliError(`pull image '${ref}': ${r.stderr.trim() || `skopeo exited ${r.status}`}`);
  }
  return tag;
}

function imageConfig(tag: string): ImageConfig {
  const raw = docker(['image', 'inspect', '--format', '{{json .Config}}', tag], `inspect image '${tag}'`);
  const c = JSON.parse(raw) as ImageConfig;
  return { User: c.User ?? '', WorkingDir: c.WorkingDir ?? '', Env: c.Env ?? [], Entrypoint: c.Entrypoint ?? null, Cmd: c.Cmd ?? null };
}

/** Flatten a local image to a rootfs tar (docker applies whiteouts for us). */
function exportRootfs(tag: string, dest: string): void {
  const helper = `${CONTAINER_PREFIX}pack-${randomBytes(6).toString('hex')}`;
  docker(['create', '--name', helper, '--label', `${LABEL}=${LABEL_VALUE}`, '--label', `${LABEL_HOME}=${HOME}`, '--entrypoint', '/smolvm-emulator-export', tag], 'flatten image');
  try {
    docker(['export', '-o', dest, helper], 'export rootfs');
  } finally {
    run(DOCKER, ['rm', '-f', helper]);
  }
}

interface PayloadManifest {
  format: string;
  image: string;
  config: ImageConfig;
  network: boolean;
  owners: { remapped: boolean; uid: number | null; gid: number | null };
  created_at: string;
  emulated_version: string;
}

function writePack(output: string, image: string, dockerTag: string, network: boolean): void {
  const outPath = resolve(output);
  const sidecar = `${outPath}.smolmachine`;
  mkdirSync(dirname(outPath), { recursive: true });
  const stage = mkdtempSync(join(tmpdir(), 'smolvm-emu-pack-'));
  try {
    const rawRootfs = join(stage, 'rootfs.raw.tar');
    exportRootfs(dockerTag, rawRootfs);
    const rootfs = join(stage, 'rootfs.tar');
    if (PRESERVE_OWNERS) renameSync(rawRootfs, rootfs);
    else {
      remapTarOwners(rawRootfs, rootfs, HOST_UID, HOST_GID);
      unlinkSync(rawRootfs);
    }
    const manifest: PayloadManifest = {
      format: PAYLOAD_FORMAT,
      image,
      config: imageConfig(dockerTag),
      network,
      owners: PRESERVE_OWNERS ? { remapped: false, uid: null, gid: null } : { remapped: true, uid: HOST_UID, gid: HOST_GID },
      created_at: new Date().toISOString(),
      emulated_version: EMULATED_VERSION,
    };
    writeFileSync(join(stage, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    const tmpSidecar = `${sidecar}.${process.pid}.tmp`;
    const t = run('tar', ['-cf', tmpSidecar, '-C', stage, 'manifest.json', 'rootfs.tar']);
    if (t.status !== 0) throw new CliError(`pack binary: ${t.stderr.trim()}`);
    renameSync(tmpSidecar, sidecar);
    const launcher =
      '#!/bin/sh\n' +
      '# Launcher written by the smolvm EMULATOR (bot-bottle test fixture), not a real packed binary.\n' +
      `# The bootable payload is the sibling file: ${basename(sidecar)}\n` +
      'echo "smolvm emulator: this launcher cannot boot anything; use: smolvm machine create NAME --from \\"$0.smolmachine\\"" >&2\n' +
      'exit 1\n';
    writeFileSync(outPath, launcher);
    chmodSync(outPath, 0o755);
    const size = statSync(sidecar).size;
    out(`Packed: ${outPath} (stub: ${Math.ceil(launcher.length / 1024)}KB, total: ${Math.ceil((size + launcher.length) / 1024)}KB)\n`);
    out(`Assets: ${sidecar} (${Math.ceil(size / 1024)}KB compressed)\n`);
    out(`\nRun with: ${outPath}\nNote: Keep the .smolmachine file alongside the binary\n`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function readPayloadManifest(path: string): PayloadManifest {
  const r = run('tar', ['-xOf', path, 'manifest.json']);
  let m: PayloadManifest | undefined;
  try {
    m = JSON.parse(r.stdout) as PayloadManifest;
  } catch {
    m = undefined;
  }
  if (r.status !== 0 || !m || m.format !== PAYLOAD_FORMAT) {
    throw new CliError(`read .smolmachine: ${path} is not a .smolmachine written by the smolvm emulator`);
  }
  return m;
}

function dockerfileQuote(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '\\$').replace(/\n/g, '\\n')}"`;
}

/** Import a payload's rootfs as a docker image, cached by the payload's digest. */
function importPayload(path: string, m: PayloadManifest): string {
  const tag = `${CONTAINER_PREFIX}payload:${fileDigest(path).slice(0, 24)}`;
  if (run(DOCKER, ['image', 'inspect', tag]).status === 0) return tag;
  const stage = mkdtempSync(join(tmpdir(), 'smolvm-emu-import-'));
  try {
    const x = run('tar', ['-xf', path, '-C', stage, 'rootfs.tar']);
    if (x.status !== 0) throw new CliError(`read .smolmachine: ${x.stderr.trim()}`);
    const changes: string[] = [`LABEL ${LABEL}=${LABEL_VALUE}`];
    const c = m.config;
    if (c.User) changes.push(`USER ${c.User}`);
    if (c.WorkingDir) changes.push(`WORKDIR ${c.WorkingDir}`);
    for (const e of c.Env ?? []) {
      const eq = e.indexOf('=');
      if (eq > 0) changes.push(`ENV ${e.slice(0, eq)}=${dockerfileQuote(e.slice(eq + 1))}`);
    }
    if (c.Entrypoint && c.Entrypoint.length) changes.push(`ENTRYPOINT ${JSON.stringify(c.Entrypoint)}`);
    if (c.Cmd && c.Cmd.length) changes.push(`CMD ${JSON.stringify(c.Cmd)}`);
    docker(['import', ...changes.flatMap((ch) => ['--change', ch]), join(stage, 'rootfs.tar'), tag], 'import .smolmachine');
    return tag;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

const SPECS: Record<string, CmdSpec> = {
  'pack create': {
    path: 'pack create',
    about: 'Package an OCI image or VM snapshot into a .smolmachine artifact (launcher at PATH, payload at PATH.smolmachine)',
    usage: 'smolvm pack create <--image <IMAGE>|--from-vm <VM_NAME>> --output <PATH>',
    flags: [
      { long: '--image', short: '-I', value: 'IMAGE', help: 'Container image to pack (pulled with skopeo over the OCI distribution protocol)' },
      { long: '--from-vm', value: 'VM_NAME', help: 'Pack from a stopped VM instead of an OCI image' },
      { long: '--output', short: '-o', value: 'PATH', help: 'Output path for the launcher; the payload is PATH.smolmachine' },
      { long: '--no-sign', help: 'Accepted and ignored (macOS code signing)' },
    ],
    positionals: [],
  },
  'machine create': {
    path: 'machine create',
    about: 'Create a new named machine configuration',
    usage: 'smolvm machine create [OPTIONS] [NAME]',
    flags: [
      { long: '--image', short: '-I', value: 'IMAGE', help: 'Container image (pulled with skopeo)' },
      { long: '--from', value: 'PATH', help: 'Create machine from a packed .smolmachine artifact' },
      { long: '--net', help: 'Enable outbound network access' },
      { long: '--allow-cidr', value: 'CIDR', multi: true, validate: validateCidr, help: 'Allow egress to a CIDR (implies --net, except with --from; NOT enforced by the emulator)' },
      { long: '--env', short: '-e', value: 'KEY=VALUE', multi: true, validate: validateEnv, help: 'Set environment variable (can be used multiple times)' },
      { long: '--workdir', short: '-w', value: 'DIR', help: 'Set working directory inside the machine' },
      { long: '--cpus', value: 'N', help: 'Number of virtual CPUs (recorded only)' },
      { long: '--mem', value: 'MiB', help: 'Memory allocation in MiB (recorded only)' },
      { long: '--volume', short: '-v', value: 'HOST:GUEST[:ro]', multi: true, help: 'Mount host directory' },
      { long: '--port', short: '-p', value: 'HOST:GUEST', multi: true, help: 'Expose port from machine to host' },
    ],
    positionals: [{ name: 'NAME', required: false, help: 'Name for the machine (auto-generated if omitted)' }],
  },
  'machine start': {
    path: 'machine start',
    about: 'Start a machine',
    usage: 'smolvm machine start [OPTIONS]',
    flags: [{ long: '--name', short: '-n', value: 'NAME', help: 'Machine to start (default: "default")' }],
    positionals: [],
  },
  'machine stop': {
    path: 'machine stop',
    about: 'Stop a running machine (like smolvm, stopping a started machine also deletes it)',
    usage: 'smolvm machine stop [OPTIONS]',
    flags: [{ long: '--name', short: '-n', value: 'NAME', help: 'Machine to stop (default: "default")' }],
    positionals: [],
  },
  'machine delete': {
    path: 'machine delete',
    about: 'Delete a machine configuration',
    usage: 'smolvm machine delete [OPTIONS] <NAME>',
    flags: [{ long: '--force', short: '-f', help: 'Skip confirmation prompt' }],
    positionals: [{ name: 'NAME', required: true, help: 'Machine to delete' }],
  },
  'machine exec': {
    path: 'machine exec',
    about: 'Run a command in the machine (as root; stdout must be a pipe or a TTY)',
    usage: 'smolvm machine exec [OPTIONS] <COMMAND>...',
    flags: [
      { long: '--name', value: 'NAME', help: 'Target machine (default: "default")' },
      { long: '--workdir', short: '-w', value: 'DIR', help: 'Set working directory in the machine' },
      { long: '--env', short: '-e', value: 'KEY=VALUE', multi: true, validate: validateEnv, help: 'Set environment variable (can be used multiple times)' },
      { long: '--timeout', value: 'DURATION', validate: (v) => (parseDuration(v) === undefined ? `invalid duration '${v}'` : undefined), help: 'Kill command after duration (e.g. "30s", "5m")' },
      { long: '--interactive', short: '-i', help: 'Keep stdin open for interactive input' },
      { long: '--tty', short: '-t', help: 'Allocate a pseudo-TTY (use with -i for shells)' },
      { long: '--stream', help: 'Stream output in real-time (prints as it arrives)' },
    ],
    positionals: [],
    trailing: { name: 'COMMAND', required: true },
  },
  'machine cp': {
    path: 'machine cp',
    about: 'Copy files between host and machine (machine:path names the machine side)',
    usage: 'smolvm machine cp <SRC> <DST>',
    flags: [],
    positionals: [
      { name: 'SRC', required: true, help: 'Source path (local file or machine:path)' },
      { name: 'DST', required: true, help: 'Destination path (local file or machine:path)' },
    ],
  },
  'machine ls': {
    path: 'machine ls',
    about: 'List all machines',
    usage: 'smolvm machine ls [OPTIONS]',
    flags: [
      { long: '--verbose', short: '-v', help: 'Show detailed configuration' },
      { long: '--json', help: 'Output in JSON format' },
    ],
    positionals: [],
  },
  'machine status': {
    path: 'machine status',
    about: 'Show machine status',
    usage: 'smolvm machine status [OPTIONS]',
    flags: [
      { long: '--name', short: '-n', value: 'NAME', help: 'Machine to check (default: "default")' },
      { long: '--json', help: 'Output in JSON format' },
    ],
    positionals: [],
  },
};
const ALIASES: Record<string, string> = { 'machine rm': 'machine delete', 'machine list': 'machine ls' };

function cmdPackCreate(p: Parsed): void {
  const image = one(p, '--image');
  const fromVm = one(p, '--from-vm');
  const output = one(p, '--output');
  const usage = SPECS['pack create']!.usage;
  if (image && fromVm) throw new UsageError(`the argument '--image <IMAGE>' cannot be used with '--from-vm <VM_NAME>'`, usage);
  const missing = [...(!image && !fromVm ? ['--image <IMAGE>'] : []), ...(!output ? ['--output <PATH>'] : [])];
  if (missing.length) throw new UsageError(`the following required arguments were not provided:\n  ${missing.join('\n  ')}`, usage);
  if (fromVm) {
    const rec = loadRecord(fromVm);
    if (!rec) throw new CliError(`pack from VM: VM '${fromVm}' not found`);
    if (stateOf(rec) === 'running') {
      throw new CliError(`pack from VM: VM '${fromVm}' is running. Stop it first with: smolvm machine stop --name ${fromVm}`);
    }
    out(`Packing VM '${fromVm}' snapshot...\n`);
    writePack(output as string, rec.image ?? `vm://${fromVm}`, rec.docker_image, rec.network);
    return;
  }
  out('Starting agent VM...\n');
  // The pulled image stays tagged smolvm-emu-image:<hash of REF> as a cache
  // (a re-pull re-tags it); the emulator never removes images itself.
  const tag = pullImage(image as string);
  out(`Image: ${image}\n`);
  writePack(output as string, image as string, tag, false);
}

function cmdMachineCreate(p: Parsed): void {
  const image = one(p, '--image');
  const from = one(p, '--from');
  const usage = SPECS['machine create']!.usage;
  if (image && from) throw new UsageError(`the argument '--from <PATH>' cannot be used with '--image <IMAGE>'`, usage);
  const name = p.positionals[0] ?? `vm-${randomBytes(4).toString('hex')}`;
  validateName(name);
  if (loadRecord(name)) throw new CliError(`machine '${name}' already exists`);
  const stale = inspectContainer(name);
  if (stale) removeContainer(name);
  const allow = many(p, '--allow-cidr');
  const cliNet = p.bools.has('--net');
  const base = {
    name,
    env: many(p, '--env'),
    workdir: one(p, '--workdir') ?? null,
    cpus: Number(one(p, '--cpus') ?? 4),
    memory_mib: Number(one(p, '--mem') ?? 8192),
    volumes: many(p, '--volume'),
    ports: many(p, '--port'),
    created_at: new Date().toISOString(),
    started_at_ms: null,
    start_id: null,
    emulator: true as const,
  };
  let rec: MachineRecord;
  if (from) {
    const path = resolve(from);
    if (!existsSync(path)) throw new CliError(`create from .smolmachine: file not found: ${from}`);
    const m = readPayloadManifest(path);
    const tag = importPayload(path, m);
    // Reproduces smolvm: with --from, --allow-cidr does NOT imply --net and the
    // CIDR list is dropped; only an explicit --net (or the pack's own network
    // flag) gives the machine a network.
    rec = { ...base, image: m.image, source_smolmachine: realpathSync(path), docker_image: tag, network: cliNet || m.network, allowed_cidrs: null };
  } else if (image) {
    const tag = pullImage(image);
    rec = { ...base, image, source_smolmachine: null, docker_image: tag, network: cliNet || allow.length > 0, allowed_cidrs: allow.length ? allow : null };
  } else {
    throw new CliError('the smolvm emulator cannot create a bare machine: pass --image <IMAGE> or --from <PATH>');
  }
  saveRecord(rec);
  out(`Created machine: ${name}\n`);
}

function cmdMachineStart(p: Parsed): void {
  const name = one(p, '--name') ?? 'default';
  const rec = loadRecord(name);
  if (!rec) throw new CliError(`machine '${name}' not found. Create it first with: smolvm machine create ${name}`);
  const c = inspectContainer(name);
  if (c?.running) {
    out(`Machine '${name}' already running\n`);
    return;
  }
  if (c) removeContainer(name);
  const args = [
    'run', '-d', '--name', containerName(name), '--hostname', name,
    '--label', `${LABEL}=${LABEL_VALUE}`, '--label', `${LABEL_MACHINE}=${name}`, '--label', `${LABEL_HOME}=${HOME}`,
    '--network', rec.network ? 'bridge' : 'none',
    '--user', '0:0',
  ];
  for (const e of rec.env) args.push('-e', e);
  if (rec.workdir) args.push('-w', rec.workdir);
  for (const v of rec.volumes) args.push('-v', v);
  for (const port of rec.ports) args.push('-p', port);
  args.push('--entrypoint', '/bin/sh', rec.docker_image, '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done');
  docker(args, `start machine '${name}'`);
  rec.started_at_ms = Date.now();
  rec.start_id = randomBytes(6).toString('hex');
  saveRecord(rec);
  out(`Started machine: ${name}\n`);
}

function cmdMachineStop(p: Parsed): void {
  const name = one(p, '--name') ?? 'default';
  const rec = loadRecord(name);
  if (!rec) throw new CliError(`machine '${name}' not found`);
  const c = inspectContainer(name);
  if (!c?.running && rec.started_at_ms === null) {
    out(`Machine '${name}' is not running\n`);
    return;
  }
  // smolvm removes a machine when it stops: the container and its record go.
  removeContainer(name);
  dropRecord(name);
  out(`Stopped machine: ${name}\n`);
}

function cmdMachineDelete(p: Parsed): void {
  const name = p.positionals[0] as string;
  if (!p.bools.has('--force')) {
    out(`Delete machine '${name}' and all its data? [y/N] `);
    const buf = Buffer.alloc(256);
    let answer = '';
    try {
      const n = readSync(0, buf, 0, buf.length, null);
      answer = buf.toString('utf8', 0, n).trim();
    } catch {
      answer = '';
    }
    if (!['y', 'Y', 'yes', 'YES'].includes(answer)) {
      out('Aborted.\n');
      return;
    }
  }
  const rec = loadRecord(name);
  if (!rec) throw new CliError(`machine '${name}' not found`);
  removeContainer(name);
  dropRecord(name);
  out(`Deleted machine: ${name}\n`);
}

/** fd 1 must be a pipe or socket (or a terminal, for interactive use). */
function stdoutAcceptable(): boolean {
  if (!STDOUT_CHECK) return true;
  try {
    const st = fstatSync(1);
    if (st.isFIFO() || st.isSocket()) return true;
    if (st.isCharacterDevice() && isatty(1)) return true;
    return false;
  } catch {
    return false;
  }
}

function isText(buf: Buffer): boolean {
  if (buf.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

/** Decide (once, atomically across concurrent execs) whether to kill this exec. */
function shouldKill(rec: MachineRecord, argv: string[]): boolean {
  if (KILL_MATCH && !argv.join(' ').includes(KILL_MATCH)) return false;
  const sinceStart = Date.now() - (rec.started_at_ms ?? 0);
  if (KILL_FIRST_EXEC) {
    mkdirSync(runDir(), { recursive: true });
    try {
      closeSync(openSync(join(runDir(), `${rec.name}.${rec.start_id}.killed`), 'wx'));
      return true;
    } catch {
      // already killed one exec since this start
    }
  }
  if (KILL_PROBABILITY > 0 && sinceStart < PROVISIONING_MS && Math.random() < KILL_PROBABILITY) return true;
  return false;
}

async function cmdMachineExec(p: Parsed): Promise<number> {
  // Like smolvm, exec cannot write to a regular file (or /dev/null): it fails
  // with a non-zero exit and nothing useful on stderr.
  if (!stdoutAcceptable()) throw new SilentExit(1);
  const name = one(p, '--name') ?? 'default';
  const rec = loadRecord(name);
  if (!rec) throw new CliError(`machine '${name}' not found`);
  // The exec channel is not ready for a while after `machine start`.
  if (rec.started_at_ms !== null && Date.now() - rec.started_at_ms < WARMUP_MS) {
    throw new CliError(`failed to connect to agent for machine '${name}': Connection refused (os error 111)`);
  }
  const c = inspectContainer(name);
  if (!c?.running) throw new CliError(`machine '${name}' is not running. Start it with: smolvm machine start --name ${name}`);
  const argv = p.trailing;
  if (shouldKill(rec, argv)) return 137;
  const interactive = p.bools.has('--interactive');
  const tty = p.bools.has('--tty');
  const args = ['exec', '-u', '0:0'];
  if (interactive) args.push('-i');
  if (tty) args.push('-t');
  const wd = one(p, '--workdir');
  if (wd) args.push('-w', wd);
  for (const e of many(p, '--env')) args.push('-e', e);
  const timeoutMs = one(p, '--timeout') !== undefined ? parseDuration(one(p, '--timeout') as string) : undefined;
  const pidfile = `/tmp/.smolvm-emu-exec-${randomBytes(6).toString('hex')}.pid`;
  args.push(containerName(name));
  if (timeoutMs !== undefined) args.push('/bin/sh', '-c', 'echo $$ > "$0"; exec "$@"', pidfile, ...argv);
  else args.push(...argv);

  const passthrough = interactive || tty || p.bools.has('--stream');
  const child = spawn(DOCKER, args, { stdio: [interactive ? 'inherit' : 'ignore', passthrough ? 'inherit' : 'pipe', passthrough ? 'inherit' : 'pipe'] });
  const stdoutChunks: Buffer[] = [];
  const stderrChunks: Buffer[] = [];
  child.stdout?.on('data', (d: Buffer) => stdoutChunks.push(d));
  child.stderr?.on('data', (d: Buffer) => stderrChunks.push(d));
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  if (timeoutMs !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      run(DOCKER, ['exec', '-u', '0:0', containerName(name), '/bin/sh', '-c', 'kill -KILL "$(cat "$0")" 2>/dev/null', pidfile]);
    }, timeoutMs);
  }
  const code = await new Promise<number>((resolvePromise) => {
    child.on('error', (e) => {
      err(`Error: docker: ${e.message}\n`);
      resolvePromise(1);
    });
    child.on('close', (status, signal) => {
      resolvePromise(status ?? (signal ? 128 + 9 : 1));
    });
  });
  if (timer) clearTimeout(timer);
  if (timeoutMs !== undefined) run(DOCKER, ['exec', '-u', '0:0', containerName(name), 'rm', '-f', pidfile]);
  if (!passthrough) {
    let stdout = Buffer.concat(stdoutChunks);
    // smolvm's exec channel does not carry large binary output: anything past
    // 64 KiB of non-text stdout is lost (exit code unaffected). Text passes.
    if (stdout.length > BINARY_STDOUT_LIMIT && !isText(stdout)) stdout = stdout.subarray(0, BINARY_STDOUT_LIMIT);
    writeAll(1, stdout);
    writeAll(2, Buffer.concat(stderrChunks));
  }
  if (timedOut) {
    err(`Error: command timed out after ${one(p, '--timeout')}\n`);
    return 124;
  }
  return code;
}

function cmdMachineCp(p: Parsed): void {
  const [src, dst] = p.positionals as [string, string];
  let machine: string;
  let guestPath: string;
  let localPath: string;
  let upload: boolean;
  const sIdx = src.indexOf(':');
  const dIdx = dst.indexOf(':');
  if (sIdx >= 0) {
    machine = src.slice(0, sIdx);
    guestPath = src.slice(sIdx + 1);
    localPath = dst;
    upload = false;
  } else if (dIdx >= 0) {
    machine = dst.slice(0, dIdx);
    guestPath = dst.slice(dIdx + 1);
    localPath = src;
    upload = true;
  } else {
    throw new CliError('cp: one of SRC or DST must use machine:path syntax (e.g., myvm:/workspace/file)');
  }
  const rec = loadRecord(machine);
  if (!rec) throw new CliError(`machine '${machine}' not found`);
  const c = inspectContainer(machine);
  if (!c?.running) throw new CliError(`machine '${machine}' is not running. Start it with: smolvm machine start --name ${machine}`);
  if (upload) {
    if (!existsSync(localPath)) throw new CliError(`cp: ${localPath}: No such file or directory`);
    docker(['cp', localPath, `${containerName(machine)}:${guestPath}`], 'upload file');
    err(`Uploaded ${statSync(localPath).size} bytes\n`);
  } else {
    docker(['cp', `${containerName(machine)}:${guestPath}`, localPath], 'download file');
    let bytes = 0;
    try {
      bytes = statSync(localPath).isDirectory() ? statSync(join(localPath, basename(guestPath))).size : statSync(localPath).size;
    } catch {
      bytes = 0;
    }
    err(`Downloaded ${bytes} bytes\n`);
  }
}

function statusJson(rec: MachineRecord, ps: Map<string, ContainerInfo>): Record<string, unknown> {
  const c = ps.get(rec.name);
  return {
    name: rec.name,
    state: c?.running ? 'running' : 'stopped',
    cpus: rec.cpus,
    memory_mib: rec.memory_mib,
    pid: c?.running ? c.pid : null,
    mounts: rec.volumes.length,
    ports: rec.ports.length,
    created_at: rec.created_at,
    storage_gb: null,
    overlay_gb: null,
    network: rec.network,
    image: rec.image,
    source_smolmachine: rec.source_smolmachine,
    allowed_cidrs: rec.allowed_cidrs,
    emulator: { container: containerName(rec.name), docker_image: rec.docker_image },
  };
}

function containerStates(records: MachineRecord[]): Map<string, ContainerInfo> {
  const m = new Map<string, ContainerInfo>();
  for (const r of records) {
    const c = inspectContainer(r.name);
    if (c) m.set(r.name, c);
  }
  return m;
}

function cmdMachineLs(p: Parsed): void {
  const recs = allRecords();
  const ps = containerStates(recs);
  if (p.bools.has('--json')) {
    out(JSON.stringify(recs.map((r) => statusJson(r, ps)), null, 2) + '\n');
    return;
  }
  if (!recs.length) {
    out('No machines found\n');
    return;
  }
  out(`${'NAME'.padEnd(20)} ${'STATE'.padEnd(12)} ${'CPUS'.padStart(5)} ${'MEMORY'.padStart(10)} ${'NETWORK'.padStart(8)}\n`);
  out('-'.repeat(59) + '\n');
  for (const r of recs) {
    const j = statusJson(r, ps);
    out(`${r.name.padEnd(20)} ${String(j.state).padEnd(12)} ${String(r.cpus).padStart(5)} ${`${r.memory_mib} MiB`.padStart(10)} ${String(r.network).padStart(8)}\n`);
  }
}

function cmdMachineStatus(p: Parsed): void {
  const name = one(p, '--name') ?? 'default';
  const rec = loadRecord(name);
  if (p.bools.has('--json')) {
    if (!rec) throw new CliError(`machine status: machine '${name}' not found`);
    out(JSON.stringify(statusJson(rec, containerStates([rec])), null, 2) + '\n');
    return;
  }
  const c = rec ? inspectContainer(name) : undefined;
  out(c?.running ? `Machine '${name}': running (pid: ${c.pid})\n` : `Machine '${name}': not running\n`);
}

// ---------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------

const TOP_HELP = `smolvm EMULATOR ${EMULATED_VERSION} — a Docker-backed stand-in for the smolvm CLI, for bot-bottle tests.
It is NOT smolvm: every "machine" is a container on the local Docker engine.

Usage: smolvm <COMMAND>

Commands:
  machine create   Create a named machine from --image REF or --from PATH.smolmachine
  machine start    Start a machine (--name NAME)
  machine stop     Stop a machine; like smolvm, this deletes it
  machine delete   Delete a machine (-f NAME)
  machine exec     Run a command as root (--name NAME [-w DIR] [--timeout DUR] [-e K=V]... -- ARGV...)
  machine cp       Copy files (NAME:path on the machine side)
  machine ls       List machines (--json)
  machine status   Show machine status
  pack create      Pack --image REF or --from-vm NAME into PATH + PATH.smolmachine

Options:
  -h, --help       Print help
  -V, --version    Print version

State: $SMOLVM_EMULATOR_HOME (default ~/.smolvm-emulator). See README.md for the quirks emulated.
`;

async function main(argv: string[]): Promise<number> {
  const [group, sub, ...rest] = argv;
  if (group === undefined || group === '--help' || group === '-h' || group === 'help') {
    if (group === undefined) {
      err(TOP_HELP);
      return 2;
    }
    out(TOP_HELP);
    return 0;
  }
  if (group === '--version' || group === '-V') {
    out(`smolvm ${EMULATED_VERSION} (bot-bottle smolvm emulator)\n`);
    return 0;
  }
  if (group.startsWith('-')) throw new UsageError(`unexpected argument '${group}' found`, 'smolvm <COMMAND>');
  if (group !== 'machine' && group !== 'pack') throw new UsageError(`unrecognized subcommand '${group}'`, 'smolvm <COMMAND>');
  if (sub === undefined || sub === '--help' || sub === '-h') {
    const lines = Object.keys(SPECS).filter((k) => k.startsWith(`${group} `)).map((k) => `  ${k.split(' ')[1]!.padEnd(10)} ${SPECS[k]!.about}`);
    const text = `smolvm EMULATOR: ${group} commands\n\nUsage: smolvm ${group} <COMMAND>\n\nCommands:\n${lines.join('\n')}\n`;
    if (sub === undefined) {
      err(text);
      return 2;
    }
    out(text);
    return 0;
  }
  const key = ALIASES[`${group} ${sub}`] ?? `${group} ${sub}`;
  const spec = SPECS[key];
  if (!spec) throw new UsageError(`unrecognized subcommand '${sub}'`, `smolvm ${group} <COMMAND>`);
  const parsed = parseArgs(rest, spec);
  switch (key) {
    case 'pack create':
      cmdPackCreate(parsed);
      return 0;
    case 'machine create':
      cmdMachineCreate(parsed);
      return 0;
    case 'machine start':
      cmdMachineStart(parsed);
      return 0;
    case 'machine stop':
      cmdMachineStop(parsed);
      return 0;
    case 'machine delete':
      cmdMachineDelete(parsed);
      return 0;
    case 'machine exec':
      return cmdMachineExec(parsed);
    case 'machine cp':
      cmdMachineCp(parsed);
      return 0;
    case 'machine ls':
      cmdMachineLs(parsed);
      return 0;
    case 'machine status':
      cmdMachineStatus(parsed);
      return 0;
    default:
      throw new UsageError(`unrecognized subcommand '${sub}'`, `smolvm ${group} <COMMAND>`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof SilentExit) process.exit(e.code);
    if (e instanceof UsageError) {
      err(`error: ${e.message}\n\nUsage: ${e.usage}\n\nFor more information, try '--help'.\n`);
      process.exit(2);
    }
    if (e instanceof CliError) {
      err(`Error: ${e.message}\n`);
      process.exit(e.code);
    }
    err(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
