import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

let temporaryNames = 0;

/**
 * Replace `file` with `content` so a reader sees the old or the new bytes,
 * never a mix: write a sibling temp file, fsync it, rename it over the
 * target, then fsync the directory so the rename survives a crash.
 */
export async function writeFileAtomic(file: string, content: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(file);
  // Unique, not secret: 'wx' refuses to reuse a name, so no crypto needed
  // (node:crypto would add ~5 ms to every command that writes state).
  const temp = join(dir, `.${basename(file)}.${process.pid}-${(temporaryNames += 1)}-${Math.random().toString(36).slice(2, 8)}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
