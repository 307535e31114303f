#!/usr/bin/env node
/**
 * bot-bottle-egress-proxy [--config FILE] [--secrets-stdin]
 *
 * The config is JSON, from --config FILE or the BOT_BOTTLE_EGRESS_CONFIG
 * variable. Secrets (a JSON object: env name -> header value) come from
 * stdin with --secrets-stdin, else from BOT_BOTTLE_EGRESS_SECRETS, which is
 * deleted from this process's environment as soon as it is read. Prints one
 * JSON line `{"event":"listening",...,"caCert":PEM}` on stdout when ready.
 */
import { text } from 'node:stream/consumers';
import { CONFIG_ENV, ConfigError, SECRETS_ENV, loadConfigFile, parseConfigText, parseSecrets, type EgressSecrets } from './config.js';
import { startEgressProxy } from './proxy.js';

function usage(): never {
  process.stderr.write('usage: bot-bottle-egress-proxy [--config FILE] [--secrets-stdin]\n');
  process.exit(2);
}

async function main(argv: readonly string[]): Promise<void> {
  let configFile: string | undefined;
  let secretsFromStdin = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--config') configFile = argv[++i] ?? usage();
    else if (arg === '--secrets-stdin') secretsFromStdin = true;
    else usage();
  }
  const inline = process.env[CONFIG_ENV];
  const config =
    configFile !== undefined
      ? loadConfigFile(configFile)
      : inline !== undefined
        ? parseConfigText(inline, CONFIG_ENV)
        : (() => {
            throw new ConfigError(`no config: pass --config FILE or set ${CONFIG_ENV}`);
          })();

  let secrets: EgressSecrets = {};
  if (secretsFromStdin) {
    secrets = parseSecrets(await text(process.stdin), 'stdin');
  } else if (process.env[SECRETS_ENV] !== undefined) {
    secrets = parseSecrets(process.env[SECRETS_ENV] ?? '', SECRETS_ENV);
  }
  // Nothing this process starts may inherit the secrets.
  delete process.env[SECRETS_ENV];

  const proxy = await startEgressProxy(config, secrets);
  process.stdout.write(`${JSON.stringify({ event: 'listening', host: proxy.host, port: proxy.port, caCert: proxy.caCertPem })}\n`);
  const stop = (): void => {
    void proxy.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : error instanceof Error ? error.message : String(error);
  process.stderr.write(`bot-bottle-egress-proxy: ${message}\n`);
  process.exit(1);
});
