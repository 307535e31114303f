// Shared helpers for the smolvm EMULATOR's e2e tests.
import { spawn, spawnSync } from 'node:child_process';
import type { StdioOptions } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const emulatorDir = dirname(fileURLToPath(import.meta.url));
export const smolvmBin = join(emulatorDir, 'bin', 'smolvm');

export interface SmolvmResult {
  code: number;
  stdout: Buffer;
  stderr: string;
  /** stdout decoded as UTF-8 */
  out: string;
}

/**
 * Run the emulator with stdout/stderr on pipes (what smolvm exec needs).
 * Asynchronous on purpose: a blocked event loop starves vitest's worker RPC.
 */
export function smolvm(args: string[], env: Record<string, string>, stdio?: StdioOptions): Promise<SmolvmResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(smolvmBin, args, { env: { ...process.env, ...env }, stdio: stdio ?? ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => errs.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolvePromise({ code: code ?? (signal ? 128 + 9 : 1), stdout, stderr: Buffer.concat(errs).toString('utf8'), out: stdout.toString('utf8') });
    });
  });
}

export function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function uniqueName(tag: string): string {
  return `t${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}-${tag}`;
}

/** Async `sh` for the slower helper commands (skopeo, tar listings). */
export function shAsync(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => errs.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${Buffer.concat(errs).toString('utf8')}`));
    });
  });
}
