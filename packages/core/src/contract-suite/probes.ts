import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProgressHandle, Reporter, WarningCode } from '../reporter.js';
import { RecordingReporter } from '../reporter.js';
import { StateStore } from '../state/store.js';

/** One `progress()` call seen by the {@link ProbeReporter}. */
export interface ProgressRecord {
  readonly label: string;
  done: boolean;
}

/**
 * The reporter the suite gives the backend: records everything (through a
 * {@link RecordingReporter}), tracks whether progress handles get finished,
 * and lets a case react to the backend's first sign of life.
 */
export class ProbeReporter implements Reporter {
  readonly recording = new RecordingReporter();
  readonly progressRecords: ProgressRecord[] = [];
  /** Called (in a microtask) after every call the backend makes, progress updates included. */
  onActivity: ((kind: 'info' | 'warn' | 'progress' | 'update' | 'done') => void) | undefined;

  get infos(): readonly string[] {
    return this.recording.infos;
  }

  get warnings(): readonly { message: string; code: WarningCode }[] {
    return this.recording.warnings;
  }

  info(message: string): void {
    this.recording.info(message);
    this.notify('info');
  }

  warn(message: string, code?: WarningCode): void {
    this.recording.warn(message, code);
    this.notify('warn');
  }

  progress(label: string, _unit?: 'bytes' | 'items'): ProgressHandle {
    const inner = this.recording.progress(label);
    const record: ProgressRecord = { label, done: false };
    this.progressRecords.push(record);
    this.notify('progress');
    return {
      update: (done, detail) => {
        inner.update(done, detail);
        this.notify('update');
      },
      done: (summary) => {
        record.done = true;
        inner.done(summary);
        this.notify('done');
      },
    };
  }

  clear(): void {
    this.recording.clear();
    this.progressRecords.length = 0;
  }

  /** Everything reported so far, for failure messages. */
  transcript(): string {
    const lines = [
      ...this.recording.infos.map((m) => `info: ${m}`),
      ...this.recording.warnings.map((w) => `warning[${w.code}]: ${w.message}`),
      ...this.progressRecords.map((p) => `progress: ${p.label}${p.done ? '' : ' (never finished)'}`),
    ];
    return lines.length > 0 ? lines.map((l) => `    ${l}`).join('\n') : '    <nothing reported>';
  }

  private notify(kind: 'info' | 'warn' | 'progress' | 'update' | 'done'): void {
    const listener = this.onActivity;
    if (listener) queueMicrotask(() => listener(kind));
  }
}

/**
 * The state store the suite gives the backend: a real {@link StateStore}
 * that can tell a case the moment a commit holds the per-slug lock, i.e.
 * the freeze is about to start.
 */
export class ProbeStore extends StateStore {
  onLockAcquired: ((slug: string) => void) | undefined;

  override async withLock<T>(slug: string, fn: () => Promise<T>, options: { waitMs?: number } = {}): Promise<T> {
    return super.withLock(
      slug,
      async () => {
        this.onLockAcquired?.(slug);
        return fn();
      },
      options,
    );
  }
}

/**
 * Every path under `dir`, relative and sorted, directories ending in `/`;
 * undefined when `dir` does not exist.
 */
export async function listTree(dir: string): Promise<string[] | undefined> {
  const out: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(join(dir, relative), { withFileTypes: true });
    for (const entry of entries) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        out.push(`${path}/`);
        await walk(path);
      } else {
        out.push(path);
      }
    }
  };
  try {
    await walk('');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && out.length === 0) return undefined;
    throw error;
  }
  return out.sort();
}
