/** The repository's publishable packages, built, ready for `npm publish`. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { cleanEnv, REPO_ROOT, type LocalRegistry } from './verdaccio.js';

export interface WorkspacePackage {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
  readonly pjson: Record<string, unknown>;
}

/** Every non-private package under packages/ (the root's `workspaces`). */
export async function workspacePackages(): Promise<WorkspacePackage[]> {
  const parent = join(REPO_ROOT, 'packages');
  const found: WorkspacePackage[] = [];
  for (const entry of (await readdir(parent)).sort()) {
    const dir = join(parent, entry);
    let pjson: Record<string, unknown>;
    try {
      pjson = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (pjson.private === true) continue;
    found.push({ name: String(pjson.name), version: String(pjson.version), dir, pjson });
  }
  return found;
}

/** `npx turbo run build` at the root (cached builds make this quick). */
export async function buildWorkspace(): Promise<void> {
  const result = await execa('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], {
    cwd: REPO_ROOT,
    env: cleanEnv(),
    extendEnv: false,
    reject: false,
    all: true,
    stdin: 'ignore',
    timeout: 600_000,
  });
  if (result.exitCode !== 0) throw new Error(`npx turbo run build failed (exit ${result.exitCode}):\n${result.all}`);
}

/** Build and publish every workspace package. Returns `name@version` of each. */
export async function publishWorkspace(registry: LocalRegistry): Promise<string[]> {
  await buildWorkspace();
  const published: string[] = [];
  for (const pkg of await workspacePackages()) published.push(await registry.publish(pkg.dir));
  return published;
}
