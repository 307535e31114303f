/**
 * How core and backends talk to the person (or script) running bot-bottle.
 * Everything goes to stderr so stdout stays clean for `--json` output.
 */
export type WarningCode =
  | 'snapshot-missing'
  | 'snapshot-used'
  | 'tar-files-changed'
  | 'cleanup-failed'
  | 'generic';

export interface ProgressHandle {
  /** Report how far along the step is, e.g. bytes streamed so far. */
  update(done: number, detail?: string): void;
  /** Finish the step; `summary` replaces the progress line. */
  done(summary?: string): void;
}

export interface Reporter {
  info(message: string): void;
  warn(message: string, code?: WarningCode): void;
  /** A slow step. `unit: 'bytes'` formats updates as sizes. */
  progress(label: string, unit?: 'bytes' | 'items'): ProgressHandle;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} ${units[unit]}` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Writes human-readable lines to a stream (stderr by default). */
export class StreamReporter implements Reporter {
  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
    private readonly quiet = false,
  ) {}

  info(message: string): void {
    if (!this.quiet) this.stream.write(`${message}\n`);
  }

  warn(message: string): void {
    this.stream.write(`warning: ${message}\n`);
  }

  progress(label: string, unit: 'bytes' | 'items' = 'items'): ProgressHandle {
    const stream = this.stream;
    const interactive = Boolean(stream.isTTY) && !this.quiet;
    const started = Date.now();
    let lastPrinted = 0;
    const render = (done: number): string => (unit === 'bytes' ? formatBytes(done) : String(done));
    return {
      update: (done, detail) => {
        if (!interactive) return;
        const now = Date.now();
        // Redraw at most ten times a second; terminals choke on more.
        if (now - lastPrinted < 100) return;
        lastPrinted = now;
        stream.write(`\r${label}: ${render(done)}${detail ? ` ${detail}` : ''}\u001b[K`);
      },
      done: (summary) => {
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        if (interactive) stream.write('\r\u001b[K');
        if (!this.quiet) stream.write(`${label}: ${summary ?? 'done'} (${seconds}s)\n`);
      },
    };
  }
}

/** Keeps every message in memory; used by tests and the contract suite. */
export class RecordingReporter implements Reporter {
  readonly infos: string[] = [];
  readonly warnings: { message: string; code: WarningCode }[] = [];
  readonly progressLabels: string[] = [];
  readonly progressUpdates: number[] = [];

  info(message: string): void {
    this.infos.push(message);
  }

  warn(message: string, code: WarningCode = 'generic'): void {
    this.warnings.push({ message, code });
  }

  progress(label: string): ProgressHandle {
    this.progressLabels.push(label);
    return {
      update: (done) => {
        this.progressUpdates.push(done);
      },
      done: (summary) => {
        this.infos.push(`${label}: ${summary ?? 'done'}`);
      },
    };
  }

  clear(): void {
    this.infos.length = 0;
    this.warnings.length = 0;
    this.progressLabels.length = 0;
    this.progressUpdates.length = 0;
  }
}
