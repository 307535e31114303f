/**
 * An in-memory root filesystem and a tiny POSIX-ish shell over it, enough
 * for the fake backend to answer the commands the contract suite runs:
 * sequences, `&&`/`||`, pipes, redirections, quoting, `$VAR`/`$1`/`~`
 * expansion, and a handful of coreutils with owner and mode checks.
 * It is a test double, not a shell: no globbing, no control flow.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { deserialize, serialize } from 'node:v8';

export interface FsNode {
  type: 'dir' | 'file';
  /** Permission bits including setuid/setgid/sticky, e.g. 0o1777. */
  mode: number;
  uid: number;
  gid: number;
  /** File content; replaced, never mutated, so a snapshot can share it. */
  data: Buffer;
}

export interface UserEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export class FsError extends Error {
  constructor(
    readonly path: string,
    readonly reason: 'No such file or directory' | 'Permission denied' | 'Not a directory' | 'Is a directory' | 'File exists' | 'Operation not permitted' | 'Directory not empty',
  ) {
    super(`${path}: ${reason}`);
  }
}

export interface Cred {
  readonly uid: number;
  readonly gid: number;
}

const EMPTY = Buffer.alloc(0);

export class FakeFs {
  readonly nodes: Map<string, FsNode>;

  constructor(nodes?: Map<string, FsNode>) {
    this.nodes = nodes ?? new Map([['/', { type: 'dir', mode: 0o755, uid: 0, gid: 0, data: EMPTY }]]);
  }

  get(path: string): FsNode | undefined {
    return this.nodes.get(path);
  }

  children(dir: string): string[] {
    const prefix = dir === '/' ? '/' : `${dir}/`;
    const names: string[] = [];
    for (const key of this.nodes.keys()) {
      if (key !== dir && key.startsWith(prefix) && !key.slice(prefix.length).includes('/')) names.push(key.slice(prefix.length));
    }
    return names.sort();
  }

  /** Unchecked creation, for building images. */
  put(path: string, node: Partial<FsNode> & { type: 'dir' | 'file' }): void {
    this.nodes.set(path, { mode: node.type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, data: EMPTY, ...node });
  }

  /** A point-in-time copy, leaving out `exclude` and everything below it. */
  snapshot(options: { exclude?: readonly string[]; remapOwnersTo?: number } = {}): FakeFs {
    const exclude = options.exclude ?? [];
    const copy = new Map<string, FsNode>();
    for (const [path, node] of this.nodes) {
      if (exclude.some((dir) => path === dir || path.startsWith(`${dir}/`))) continue;
      const owner = options.remapOwnersTo;
      copy.set(path, { ...node, ...(owner === undefined ? {} : { uid: owner, gid: owner }) });
    }
    return new FakeFs(copy);
  }

  serialize(): Buffer {
    return serialize([...this.nodes.entries()]);
  }

  static deserialize(bytes: Buffer): FakeFs {
    const entries = deserialize(bytes) as [string, FsNode][];
    return new FakeFs(
      new Map(
        entries.map(([path, node]) => [
          path,
          { ...node, data: Buffer.from(node.data.buffer, node.data.byteOffset, node.data.byteLength) },
        ]),
      ),
    );
  }

  // --- checked operations, as a process with `cred` ---

  private allowed(node: FsNode, cred: Cred, bit: 4 | 2 | 1): boolean {
    if (cred.uid === 0) return true;
    if (node.uid === cred.uid) return ((node.mode >> 6) & bit) !== 0;
    if (node.gid === cred.gid) return ((node.mode >> 3) & bit) !== 0;
    return (node.mode & bit) !== 0;
  }

  private requireDir(path: string): FsNode {
    const node = this.nodes.get(path);
    if (!node) throw new FsError(path, 'No such file or directory');
    if (node.type !== 'dir') throw new FsError(path, 'Not a directory');
    return node;
  }

  read(path: string, cred: Cred): Buffer {
    const node = this.nodes.get(path);
    if (!node) throw new FsError(path, 'No such file or directory');
    if (node.type === 'dir') throw new FsError(path, 'Is a directory');
    if (!this.allowed(node, cred, 4)) throw new FsError(path, 'Permission denied');
    return node.data;
  }

  write(path: string, data: Buffer, cred: Cred, append = false): void {
    const node = this.nodes.get(path);
    if (node) {
      if (node.type === 'dir') throw new FsError(path, 'Is a directory');
      if (!this.allowed(node, cred, 2)) throw new FsError(path, 'Permission denied');
      node.data = append ? Buffer.concat([node.data, data]) : Buffer.from(data);
      return;
    }
    const parent = this.requireDir(posix.dirname(path));
    if (!this.allowed(parent, cred, 2)) throw new FsError(path, 'Permission denied');
    this.nodes.set(path, { type: 'file', mode: 0o644, uid: cred.uid, gid: cred.gid, data: Buffer.from(data) });
  }

  touch(path: string, cred: Cred): void {
    const node = this.nodes.get(path);
    if (node) {
      if (cred.uid !== 0 && node.uid !== cred.uid && !this.allowed(node, cred, 2)) throw new FsError(path, 'Permission denied');
      return;
    }
    this.write(path, EMPTY, cred);
  }

  mkdir(path: string, cred: Cred, options: { parents?: boolean; mode?: number } = {}): void {
    const node = this.nodes.get(path);
    if (node) {
      if (options.parents && node.type === 'dir') return;
      throw new FsError(path, 'File exists');
    }
    const parentPath = posix.dirname(path);
    if (options.parents && !this.nodes.has(parentPath)) this.mkdir(parentPath, cred, { parents: true });
    const parent = this.requireDir(parentPath);
    if (!this.allowed(parent, cred, 2)) throw new FsError(path, 'Permission denied');
    this.nodes.set(path, { type: 'dir', mode: options.mode ?? 0o755, uid: cred.uid, gid: cred.gid, data: EMPTY });
  }

  remove(path: string, cred: Cred, options: { recursive?: boolean } = {}): void {
    const node = this.nodes.get(path);
    if (!node) throw new FsError(path, 'No such file or directory');
    const parent = this.requireDir(posix.dirname(path));
    if (!this.allowed(parent, cred, 2)) throw new FsError(path, 'Permission denied');
    if ((parent.mode & 0o1000) !== 0 && cred.uid !== 0 && node.uid !== cred.uid && parent.uid !== cred.uid) {
      throw new FsError(path, 'Operation not permitted');
    }
    if (node.type === 'dir') {
      const below = [...this.nodes.keys()].filter((key) => key.startsWith(`${path}/`));
      if (below.length > 0 && !options.recursive) throw new FsError(path, 'Directory not empty');
      for (const key of below) this.nodes.delete(key);
    }
    this.nodes.delete(path);
  }

  chmod(path: string, mode: number, cred: Cred): void {
    const node = this.nodes.get(path);
    if (!node) throw new FsError(path, 'No such file or directory');
    if (cred.uid !== 0 && node.uid !== cred.uid) throw new FsError(path, 'Operation not permitted');
    node.mode = mode & 0o7777;
  }

  chown(path: string, uid: number, gid: number | undefined, cred: Cred, recursive = false): void {
    const node = this.nodes.get(path);
    if (!node) throw new FsError(path, 'No such file or directory');
    if (cred.uid !== 0) throw new FsError(path, 'Operation not permitted');
    const targets = recursive ? [...this.nodes.keys()].filter((key) => key === path || key.startsWith(`${path}/`)) : [path];
    for (const key of targets) {
      const target = this.nodes.get(key)!;
      target.uid = uid;
      if (gid !== undefined) target.gid = gid;
    }
  }
}

// ---------------------------------------------------------------------------
// The shell

type WordPart = { kind: 'lit'; text: string } | { kind: 'var'; name: string } | { kind: 'tilde' };
type Word = WordPart[];
type Operator = ';' | '&&' | '||' | '|' | '>' | '>>' | '<' | '2>' | '2>>' | '>&2' | '2>&1';
type Token = { kind: 'word'; word: Word } | { kind: 'op'; op: Operator };

interface Redirect {
  readonly op: '>' | '>>' | '<' | '2>' | '2>>' | '>&2' | '2>&1';
  readonly target?: Word;
}

interface SimpleCommand {
  readonly words: Word[];
  readonly redirects: Redirect[];
}

interface AndOr {
  readonly connector: ';' | '&&' | '||';
  readonly pipeline: SimpleCommand[];
}

export class ShellSyntaxError extends Error {}

function tokenize(script: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let word: Word | undefined;
  const lit = (text: string): void => {
    word ??= [];
    const last = word[word.length - 1];
    if (last?.kind === 'lit') last.text += text;
    else word.push({ kind: 'lit', text });
  };
  const endWord = (): void => {
    if (word) tokens.push({ kind: 'word', word });
    word = undefined;
  };
  const readVar = (): void => {
    // at script[i] === '$'
    const rest = script.slice(i + 1);
    const braced = /^\{([A-Za-z_][A-Za-z0-9_]*|[0-9?@#])\}/.exec(rest);
    const plain = /^([A-Za-z_][A-Za-z0-9_]*|[0-9?@#])/.exec(rest);
    const match = braced ?? plain;
    if (!match) {
      lit('$');
      i += 1;
      return;
    }
    word ??= [];
    word.push({ kind: 'var', name: match[1]! });
    i += 1 + match[0].length;
  };
  while (i < script.length) {
    const c = script[i]!;
    if (c === ' ' || c === '\t') {
      endWord();
      i += 1;
    } else if (c === '\n') {
      endWord();
      tokens.push({ kind: 'op', op: ';' });
      i += 1;
    } else if (c === '#' && !word) {
      while (i < script.length && script[i] !== '\n') i += 1;
    } else if (c === "'") {
      const end = script.indexOf("'", i + 1);
      if (end < 0) throw new ShellSyntaxError('unterminated quoted string');
      lit(script.slice(i + 1, end));
      i = end + 1;
    } else if (c === '"') {
      i += 1;
      word ??= [];
      for (;;) {
        if (i >= script.length) throw new ShellSyntaxError('unterminated quoted string');
        const d = script[i]!;
        if (d === '"') {
          i += 1;
          break;
        }
        if (d === '\\' && i + 1 < script.length && '"\\$`'.includes(script[i + 1]!)) {
          lit(script[i + 1]!);
          i += 2;
        } else if (d === '$') {
          readVar();
        } else {
          lit(d);
          i += 1;
        }
      }
    } else if (c === '\\') {
      if (i + 1 < script.length) lit(script[i + 1]!);
      i += 2;
    } else if (c === '$') {
      readVar();
    } else if (c === '~' && !word) {
      word = [{ kind: 'tilde' }];
      i += 1;
    } else {
      const ops: Operator[] = ['2>&1', '>&2', '2>>', '&&', '||', '>>', '2>', ';', '|', '>', '<'];
      const op = ops.find((o) => script.startsWith(o, i) && (!o.startsWith('2') || !word));
      if (op) {
        endWord();
        tokens.push({ kind: 'op', op });
        i += op.length;
      } else if (c === '&' || c === '(' || c === ')' || c === '`') {
        throw new ShellSyntaxError(`the fake shell does not support ${JSON.stringify(c)}`);
      } else {
        lit(c);
        i += 1;
      }
    }
  }
  endWord();
  return tokens;
}

function parse(script: string): AndOr[] {
  const tokens = tokenize(script);
  const list: AndOr[] = [];
  let connector: AndOr['connector'] = ';';
  let pipeline: SimpleCommand[] = [];
  let command: { words: Word[]; redirects: Redirect[] } = { words: [], redirects: [] };
  const endCommand = (): void => {
    if (command.words.length === 0 && command.redirects.length === 0) throw new ShellSyntaxError('syntax error: empty command');
    pipeline.push(command);
    command = { words: [], redirects: [] };
  };
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i]!;
    if (token.kind === 'word') {
      command.words.push(token.word);
      continue;
    }
    switch (token.op) {
      case '|':
        endCommand();
        break;
      case ';':
      case '&&':
      case '||':
        if (command.words.length === 0 && pipeline.length === 0 && token.op === ';') break;
        endCommand();
        list.push({ connector, pipeline });
        pipeline = [];
        connector = token.op;
        break;
      case '>&2':
      case '2>&1':
        command.redirects.push({ op: token.op });
        break;
      default: {
        const next = tokens[i + 1];
        if (next?.kind !== 'word') throw new ShellSyntaxError(`syntax error: ${token.op} needs a file name`);
        command.redirects.push({ op: token.op, target: next.word });
        i += 1;
      }
    }
  }
  if (command.words.length > 0 || command.redirects.length > 0) endCommand();
  if (pipeline.length > 0) list.push({ connector, pipeline });
  return list;
}

export interface Process {
  readonly fs: FakeFs;
  readonly users: readonly UserEntry[];
  uid: number;
  gid: number;
  env: Record<string, string>;
  cwd: string;
  readonly signal: AbortSignal;
  /** $0, $1, ... */
  positional: string[];
  status: number;
}

export interface ExecOutcome {
  readonly exitCode: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

class Output {
  readonly chunks: Buffer[] = [];
  constructor(private readonly listener?: (chunk: Buffer) => void) {}
  write(data: string | Buffer): void {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.listener) this.listener(chunk);
    else this.chunks.push(chunk);
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

interface Io {
  readonly stdin: Buffer;
  readonly stdout: Output;
  readonly stderr: Output;
}

type Command = (args: string[], proc: Process, io: Io) => Promise<number> | number;

/** Longest output `yes` produces (it has no consumer to stop it). */
export const YES_LIMIT = 16 * 1024 * 1024;

function expand(word: Word, proc: Process): string {
  return word
    .map((part) => {
      if (part.kind === 'lit') return part.text;
      if (part.kind === 'tilde') return proc.env.HOME ?? '/';
      if (part.name === '?') return String(proc.status);
      if (part.name === '#') return String(Math.max(0, proc.positional.length - 1));
      if (part.name === '@') return proc.positional.slice(1).join(' ');
      if (/^[0-9]$/.test(part.name)) return proc.positional[Number(part.name)] ?? '';
      return proc.env[part.name] ?? '';
    })
    .join('');
}

function resolvePath(proc: Process, path: string): string {
  return posix.normalize(posix.isAbsolute(path) ? path : posix.join(proc.cwd, path)).replace(/(.)\/$/, '$1');
}

function cred(proc: Process): Cred {
  return { uid: proc.uid, gid: proc.gid };
}

function userByUid(proc: Process, uid: number): UserEntry | undefined {
  return proc.users.find((u) => u.uid === uid);
}

function fsFail(io: Io, command: string, error: unknown): number {
  if (error instanceof FsError) {
    io.stderr.write(`${command}: ${error.message}\n`);
    return 1;
  }
  throw error;
}

function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function statFormat(format: string, path: string, node: FsNode, proc: Process): string {
  return format.replace(/%([augUGsnF%])/g, (_, key: string) => {
    switch (key) {
      case 'a':
        return (node.mode & 0o7777).toString(8);
      case 'u':
        return String(node.uid);
      case 'g':
        return String(node.gid);
      case 'U':
        return userByUid(proc, node.uid)?.name ?? 'UNKNOWN';
      case 'G':
        return proc.users.find((u) => u.gid === node.gid)?.name ?? 'UNKNOWN';
      case 's':
        return String(node.type === 'file' ? node.data.length : 4096);
      case 'n':
        return path;
      case 'F':
        return node.type === 'file' ? (node.data.length === 0 ? 'regular empty file' : 'regular file') : 'directory';
      default:
        return '%';
    }
  });
}

const commands: Record<string, Command> = {
  true: () => 0,
  false: () => 1,
  ':': () => 0,
  echo(args, _proc, io) {
    const newline = args[0] !== '-n';
    io.stdout.write(`${(newline ? args : args.slice(1)).join(' ')}${newline ? '\n' : ''}`);
    return 0;
  },
  printf(args, _proc, io) {
    const [format = '', ...values] = args;
    let index = 0;
    const unescape = (s: string): string => s.replace(/\\n/g, '\n').replace(/\\t/g, '\t').replace(/\\\\/g, '\\');
    do {
      io.stdout.write(
        unescape(format).replace(/%([sd%])/g, (_, key: string) => (key === '%' ? '%' : (values[index++] ?? ''))),
      );
    } while (index > 0 && index < values.length);
    return 0;
  },
  exit(args) {
    throw new Exit(args[0] === undefined ? 0 : Number(args[0]) & 0xff);
  },
  pwd(_args, proc, io) {
    io.stdout.write(`${proc.cwd}\n`);
    return 0;
  },
  cd(args, proc, io) {
    const target = resolvePath(proc, args[0] ?? proc.env.HOME ?? '/');
    const node = proc.fs.get(target);
    if (node?.type !== 'dir') {
      io.stderr.write(`cd: can't cd to ${args[0]}\n`);
      return 2;
    }
    proc.cwd = target;
    return 0;
  },
  id(args, proc, io) {
    const user = userByUid(proc, proc.uid);
    const flags = args.join('');
    if (flags.includes('u') && flags.includes('n')) io.stdout.write(`${user?.name ?? proc.uid}\n`);
    else if (flags.includes('u')) io.stdout.write(`${proc.uid}\n`);
    else if (flags.includes('g') && flags.includes('n')) io.stdout.write(`${proc.users.find((u) => u.gid === proc.gid)?.name ?? proc.gid}\n`);
    else if (flags.includes('g')) io.stdout.write(`${proc.gid}\n`);
    else io.stdout.write(`uid=${proc.uid}(${user?.name ?? proc.uid}) gid=${proc.gid} groups=${proc.gid}\n`);
    return 0;
  },
  whoami(_args, proc, io) {
    io.stdout.write(`${userByUid(proc, proc.uid)?.name ?? proc.uid}\n`);
    return 0;
  },
  env(_args, proc, io) {
    for (const [key, value] of Object.entries(proc.env)) io.stdout.write(`${key}=${value}\n`);
    return 0;
  },
  cat(args, proc, io) {
    if (args.length === 0) {
      io.stdout.write(io.stdin);
      return 0;
    }
    let status = 0;
    for (const arg of args) {
      if (arg === '-') {
        io.stdout.write(io.stdin);
        continue;
      }
      try {
        io.stdout.write(proc.fs.read(resolvePath(proc, arg), cred(proc)));
      } catch (error) {
        status = fsFail(io, 'cat', error);
      }
    }
    return status;
  },
  tee(args, proc, io) {
    const append = args[0] === '-a';
    let status = 0;
    for (const arg of append ? args.slice(1) : args) {
      try {
        proc.fs.write(resolvePath(proc, arg), io.stdin, cred(proc), append);
      } catch (error) {
        status = fsFail(io, 'tee', error);
      }
    }
    io.stdout.write(io.stdin);
    return status;
  },
  mkdir(args, proc, io) {
    let parents = false;
    let mode: number | undefined;
    const paths: string[] = [];
    for (let i = 0; i < args.length; i += 1) {
      const arg = args[i]!;
      if (arg === '-p') parents = true;
      else if (arg === '-m') mode = Number.parseInt(args[++i] ?? '755', 8);
      else paths.push(arg);
    }
    let status = 0;
    for (const path of paths) {
      try {
        proc.fs.mkdir(resolvePath(proc, path), cred(proc), { parents, ...(mode === undefined ? {} : { mode }) });
      } catch (error) {
        status = fsFail(io, 'mkdir', error);
      }
    }
    return status;
  },
  touch(args, proc, io) {
    let status = 0;
    for (const arg of args) {
      try {
        proc.fs.touch(resolvePath(proc, arg), cred(proc));
      } catch (error) {
        status = fsFail(io, 'touch', error);
      }
    }
    return status;
  },
  rm(args, proc, io) {
    const flags = args.filter((a) => a.startsWith('-')).join('');
    const force = flags.includes('f');
    const recursive = /[rR]/.test(flags);
    let status = 0;
    for (const arg of args.filter((a) => !a.startsWith('-'))) {
      try {
        proc.fs.remove(resolvePath(proc, arg), cred(proc), { recursive });
      } catch (error) {
        if (force && error instanceof FsError && error.reason === 'No such file or directory') continue;
        status = fsFail(io, 'rm', error);
      }
    }
    return status;
  },
  ls(args, proc, io) {
    const all = args.some((a) => a.startsWith('-') && /[aA]/.test(a));
    const paths = args.filter((a) => !a.startsWith('-'));
    let status = 0;
    for (const arg of paths.length > 0 ? paths : ['.']) {
      const path = resolvePath(proc, arg);
      const node = proc.fs.get(path);
      if (!node) {
        io.stderr.write(`ls: cannot access '${arg}': No such file or directory\n`);
        status = 2;
        continue;
      }
      const names = node.type === 'dir' ? proc.fs.children(path).filter((n) => all || !n.startsWith('.')) : [arg];
      for (const name of names) io.stdout.write(`${name}\n`);
    }
    return status;
  },
  stat(args, proc, io) {
    let format = '%n';
    const paths: string[] = [];
    for (let i = 0; i < args.length; i += 1) {
      const arg = args[i]!;
      if (arg === '-c') format = args[++i] ?? '';
      else if (arg.startsWith('--format=')) format = arg.slice('--format='.length);
      else paths.push(arg);
    }
    let status = 0;
    for (const arg of paths) {
      const node = proc.fs.get(resolvePath(proc, arg));
      if (!node) {
        io.stderr.write(`stat: cannot statx '${arg}': No such file or directory\n`);
        status = 1;
        continue;
      }
      io.stdout.write(`${statFormat(format, arg, node, proc)}\n`);
    }
    return status;
  },
  sha256sum(args, proc, io) {
    let status = 0;
    for (const arg of args.length > 0 ? args : ['-']) {
      try {
        const data = arg === '-' ? io.stdin : proc.fs.read(resolvePath(proc, arg), cred(proc));
        io.stdout.write(`${createHash('sha256').update(data).digest('hex')}  ${arg}\n`);
      } catch (error) {
        status = fsFail(io, 'sha256sum', error);
      }
    }
    return status;
  },
  head(args, proc, io) {
    let bytes: number | undefined;
    let lines = 10;
    let file: string | undefined;
    for (let i = 0; i < args.length; i += 1) {
      const arg = args[i]!;
      if (arg === '-c') bytes = Number(args[++i]);
      else if (arg === '-n') lines = Number(args[++i]);
      else file = arg;
    }
    let data: Buffer;
    try {
      data = file === undefined ? io.stdin : proc.fs.read(resolvePath(proc, file), cred(proc));
    } catch (error) {
      return fsFail(io, 'head', error);
    }
    if (bytes !== undefined) {
      io.stdout.write(data.subarray(0, bytes));
    } else {
      let end = 0;
      for (let n = 0; n < lines && end < data.length; n += 1) {
        const next = data.indexOf(10, end);
        end = next < 0 ? data.length : next + 1;
      }
      io.stdout.write(data.subarray(0, end));
    }
    return 0;
  },
  yes(args, _proc, io) {
    const unit = Buffer.from(`${args.length > 0 ? args.join(' ') : 'y'}\n`);
    const out = Buffer.alloc(YES_LIMIT - (YES_LIMIT % unit.length));
    for (let offset = 0; offset < out.length; offset += unit.length) unit.copy(out, offset);
    io.stdout.write(out);
    return 0;
  },
  wc(args, proc, io) {
    const file = args.find((a) => !a.startsWith('-'));
    try {
      const data = file === undefined ? io.stdin : proc.fs.read(resolvePath(proc, file), cred(proc));
      io.stdout.write(`${data.length}${file === undefined ? '' : ` ${file}`}\n`);
      return 0;
    } catch (error) {
      return fsFail(io, 'wc', error);
    }
  },
  chmod(args, proc, io) {
    const [spec = '', ...paths] = args;
    let status = 0;
    for (const arg of paths) {
      const path = resolvePath(proc, arg);
      const node = proc.fs.get(path);
      let mode: number;
      if (/^[0-7]+$/.test(spec)) mode = Number.parseInt(spec, 8);
      else if (/^[ugoa]*[+-][rwx]+$/.test(spec) && node) {
        const [, who = '', sign, what = ''] = /^([ugoa]*)([+-])([rwx]+)$/.exec(spec)!;
        const bits = (what.includes('r') ? 4 : 0) | (what.includes('w') ? 2 : 0) | (what.includes('x') ? 1 : 0);
        const scope = who === '' || who.includes('a') ? 0o111 * bits : (who.includes('u') ? bits << 6 : 0) | (who.includes('g') ? bits << 3 : 0) | (who.includes('o') ? bits : 0);
        mode = sign === '+' ? node.mode | scope : node.mode & ~scope;
      } else {
        io.stderr.write(`chmod: invalid mode: '${spec}'\n`);
        return 1;
      }
      try {
        proc.fs.chmod(path, mode, cred(proc));
      } catch (error) {
        status = fsFail(io, 'chmod', error);
      }
    }
    return status;
  },
  chown(args, proc, io) {
    const recursive = args.includes('-R');
    const [spec = '', ...paths] = args.filter((a) => a !== '-R');
    const [owner = '', group] = spec.split(':');
    const uid = /^\d+$/.test(owner) ? Number(owner) : proc.users.find((u) => u.name === owner)?.uid;
    const gid = group === undefined || group === '' ? undefined : /^\d+$/.test(group) ? Number(group) : proc.users.find((u) => u.name === group)?.gid;
    if (uid === undefined || (group && gid === undefined)) {
      io.stderr.write(`chown: invalid user: '${spec}'\n`);
      return 1;
    }
    let status = 0;
    for (const arg of paths) {
      try {
        proc.fs.chown(resolvePath(proc, arg), uid, gid, cred(proc), recursive);
      } catch (error) {
        status = fsFail(io, 'chown', error);
      }
    }
    return status;
  },
  async sleep(args, proc) {
    const ms = args[0] === 'infinity' ? 2 ** 31 - 1 : Number(args[0] ?? 0) * 1000;
    return (await delay(ms, proc.signal)) ? 0 : 143;
  },
  test(args, proc) {
    return evaluateTest(args, proc) ? 0 : 1;
  },
  '['(args, proc, io) {
    if (args[args.length - 1] !== ']') {
      io.stderr.write('[: missing ]\n');
      return 2;
    }
    return evaluateTest(args.slice(0, -1), proc) ? 0 : 1;
  },
  async sh(args, proc, io) {
    if (args[0] !== '-c' || args[1] === undefined) {
      io.stderr.write('sh: the fake shell only runs `sh -c SCRIPT [NAME [ARGS...]]`\n');
      return 2;
    }
    const child: Process = { ...proc, env: { ...proc.env }, positional: [args[2] ?? 'sh', ...args.slice(3)], status: 0 };
    return runScript(args[1], child, io);
  },
};
commands.bash = commands.sh!;

function evaluateTest(args: string[], proc: Process): boolean {
  if (args[0] === '!') return !evaluateTest(args.slice(1), proc);
  if (args.length === 1) return args[0] !== '';
  if (args.length === 3 && (args[1] === '=' || args[1] === '!=')) return (args[0] === args[2]) === (args[1] === '=');
  const [flag, operand = ''] = args;
  if (flag === '-z') return operand === '';
  if (flag === '-n') return operand !== '';
  const node = proc.fs.get(resolvePath(proc, operand));
  switch (flag) {
    case '-e':
      return node !== undefined;
    case '-f':
      return node?.type === 'file';
    case '-d':
      return node?.type === 'dir';
    case '-s':
      return node?.type === 'file' && node.data.length > 0;
    case '-x':
      return node !== undefined && (proc.uid === 0 || (node.mode & 0o111) !== 0);
    default:
      return false;
  }
}

async function runCommand(command: SimpleCommand, proc: Process, io: Io): Promise<number> {
  let stdin = io.stdin;
  let stdout = io.stdout;
  let stderr = io.stderr;
  const files: { path: string; output: Output; append: boolean }[] = [];
  for (const redirect of command.redirects) {
    const target = redirect.target ? resolvePath(proc, expand(redirect.target, proc)) : '';
    try {
      switch (redirect.op) {
        case '<':
          stdin = proc.fs.read(target, cred(proc));
          break;
        case '>&2':
          stdout = stderr;
          break;
        case '2>&1':
          stderr = stdout;
          break;
        case '>':
        case '>>':
        case '2>':
        case '2>>': {
          const output = new Output();
          const append = redirect.op.endsWith('>>');
          if (target !== '/dev/null') {
            proc.fs.write(target, Buffer.alloc(0), cred(proc), true);
            files.push({ path: target, output, append });
          }
          if (redirect.op.startsWith('2')) stderr = output;
          else stdout = output;
          break;
        }
      }
    } catch (error) {
      return fsFail(io, 'sh', error);
    }
  }
  const words = command.words.map((word) => expand(word, proc));
  let status = 0;
  if (words.length > 0) {
    let [name, ...args] = words as [string, ...string[]];
    let replace = false;
    if (name === 'exec' && args.length > 0) {
      replace = true;
      [name, ...args] = args as [string, ...string[]];
    }
    status = await invoke(name, args, proc, { stdin, stdout, stderr });
    if (replace) {
      await flush(files, proc);
      throw new Exit(status);
    }
  }
  await flush(files, proc);
  return status;
}

async function flush(files: { path: string; output: Output; append: boolean }[], proc: Process): Promise<void> {
  for (const file of files.splice(0)) proc.fs.write(file.path, file.output.bytes(), cred(proc), file.append);
}

function lookup(name: string): Command | undefined {
  return Object.hasOwn(commands, name) ? commands[name] : undefined;
}

async function invoke(name: string, args: string[], proc: Process, io: Io): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve));
  if (proc.signal.aborted) return 143;
  if (!name.includes('/')) {
    const command = lookup(name);
    if (command) return command(args, proc, io);
    io.stderr.write(`sh: 1: ${name}: not found\n`);
    return 127;
  }
  const path = resolvePath(proc, name);
  const node = proc.fs.get(path);
  const builtin = lookup(posix.basename(path));
  if (node?.type === 'file') {
    if (proc.uid !== 0 && (node.mode & 0o111) === 0) {
      io.stderr.write(`sh: 1: ${name}: Permission denied\n`);
      return 126;
    }
    const text = node.data.toString();
    if (/^#!\/bin\/(ba)?sh\b/.test(text)) {
      const child: Process = { ...proc, env: { ...proc.env }, positional: [name, ...args], status: 0 };
      return runScript(text, child, io);
    }
    if (builtin) return builtin(args, proc, io);
    io.stderr.write(`sh: 1: ${name}: cannot execute binary file\n`);
    return 126;
  }
  if (!node && builtin && /^\/(usr\/)?s?bin\//.test(path)) return builtin(args, proc, io);
  io.stderr.write(`sh: 1: ${name}: not found\n`);
  return 127;
}

async function runPipeline(pipeline: SimpleCommand[], proc: Process, io: Io): Promise<number> {
  let stdin = io.stdin;
  let status = 0;
  for (let i = 0; i < pipeline.length; i += 1) {
    const last = i === pipeline.length - 1;
    const stdout = last ? io.stdout : new Output();
    try {
      status = await runCommand(pipeline[i]!, proc, { stdin, stdout, stderr: io.stderr });
    } catch (error) {
      // `exit` inside a pipeline stage ends only that stage.
      if (!(error instanceof Exit) || last) throw error;
      status = error.code;
    }
    if (!last) stdin = stdout.bytes();
  }
  return status;
}

async function runScript(script: string, proc: Process, io: Io): Promise<number> {
  let list: AndOr[];
  try {
    list = parse(script);
  } catch (error) {
    if (!(error instanceof ShellSyntaxError)) throw error;
    io.stderr.write(`sh: ${error.message}\n`);
    return 2;
  }
  proc.status = 0;
  try {
    for (const { connector, pipeline } of list) {
      if (connector === '&&' && proc.status !== 0) continue;
      if (connector === '||' && proc.status === 0) continue;
      proc.status = await runPipeline(pipeline, proc, io);
    }
  } catch (error) {
    if (error instanceof Exit) return error.code;
    throw error;
  }
  return proc.status;
}

/**
 * Run `argv` (not through a shell) as `proc`, collecting its output, or
 * handing it to `onOutput` as it is written (then the outcome's are empty).
 */
export async function runArgv(
  argv: readonly string[],
  proc: Process,
  stdin: Buffer = Buffer.alloc(0),
  onOutput?: (chunk: Buffer) => void,
): Promise<ExecOutcome> {
  const io: Io = { stdin, stdout: new Output(onOutput), stderr: new Output(onOutput) };
  const [name, ...args] = argv;
  let exitCode: number;
  if (name === undefined) {
    exitCode = 0;
  } else {
    try {
      exitCode = await invoke(name, args, proc, io);
    } catch (error) {
      if (!(error instanceof Exit)) throw error;
      exitCode = error.code;
    }
  }
  return { exitCode, stdout: io.stdout.bytes(), stderr: io.stderr.bytes() };
}
