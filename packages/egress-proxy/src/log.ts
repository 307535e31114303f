/**
 * The decision log: one JSON object per line, appended synchronously so a
 * line is on disk before the client hears the answer it describes. Header
 * values never appear, only the names of injected headers.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export type Decision = 'allow' | 'deny' | 'error';

export interface EgressLogEntry {
  /** ISO 8601. */
  readonly time: string;
  readonly decision: Decision;
  /** `CONNECT` for tunnels, else the HTTP method. */
  readonly method: string;
  readonly host: string;
  readonly port: number;
  /** `tunnel` (CONNECT passed through), `http` (plain request), `tls` (HTTPS terminated to inject a header). */
  readonly via: 'tunnel' | 'http' | 'tls';
  readonly slug?: string;
  readonly bottle?: string;
  /** Path of plain and terminated requests. */
  readonly path?: string;
  /** The allow entry that admitted the request. */
  readonly rule?: string;
  /** Names of headers injected (never values). */
  readonly injected?: readonly string[];
  /** Status the proxy or upstream answered with. */
  readonly status?: number;
  readonly reason?: string;
}

export class DecisionLog {
  private fd: number | undefined;

  constructor(readonly file: string | undefined) {
    if (file !== undefined) {
      mkdirSync(dirname(file), { recursive: true });
      this.fd = openSync(file, 'a', 0o644);
    }
  }

  write(entry: EgressLogEntry): void {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    } catch (error) {
      // A full disk must not take the proxy down; say so once per failure on stderr.
      process.stderr.write(`bot-bottle-egress-proxy: could not write the log: ${(error as Error).message}\n`);
    }
  }

  close(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

/** Parse a log file's text; lines that are not JSON objects are skipped. */
export function parseLog(text: string): EgressLogEntry[] {
  const entries: EgressLogEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const value = JSON.parse(line) as unknown;
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) entries.push(value as EgressLogEntry);
    } catch {
      // A torn last line (the proxy was killed mid-write) is not worth failing over.
    }
  }
  return entries;
}

/** One human-readable line per entry. */
export function formatEntry(entry: EgressLogEntry): string {
  const target = `${entry.host}:${entry.port}`;
  const what = entry.path !== undefined ? `${entry.method} ${target}${entry.path}` : `${entry.method} ${target}`;
  const extra = [
    entry.status !== undefined ? String(entry.status) : undefined,
    entry.rule !== undefined ? `rule ${entry.rule}` : undefined,
    entry.injected && entry.injected.length > 0 ? `injected ${entry.injected.join(', ')}` : undefined,
    entry.reason,
  ].filter((part): part is string => part !== undefined);
  return `${entry.time} ${entry.decision.toUpperCase().padEnd(5)} ${what}${extra.length > 0 ? `  (${extra.join('; ')})` : ''}`;
}
