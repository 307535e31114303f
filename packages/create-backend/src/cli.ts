/** `npm init @bot-bottle/backend <dir> [--name <backend>] [--package <npm name>]` */
import { parseArgs } from 'node:util';
import { CreateBackendError, generateBackend, nextSteps } from './index.js';

const USAGE = `usage: npm init @bot-bottle/backend <dir> [-- --name <backend> --package <npm-name>]

Creates a bot-bottle backend package in <dir>: package.json with the
"botBottle" declaration and the @bot-bottle/core peer dependency, a
skeleton BackendPlugin and Freezer in src/, and the contract suite in test/.

  --name      backend name manifests use (default: <dir>'s name without "bot-bottle-backend-")
  --package   npm package name (default: bot-bottle-backend-<name>)`;

export async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        package: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [dir, ...extra] = parsed.positionals;
  if (dir === undefined || extra.length > 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    const result = await generateBackend({
      dir,
      ...(parsed.values.name !== undefined ? { backendName: parsed.values.name } : {}),
      ...(parsed.values.package !== undefined ? { packageName: parsed.values.package } : {}),
    });
    process.stdout.write(`${nextSteps(result)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof CreateBackendError) {
      process.stderr.write(`error: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
