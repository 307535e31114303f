/**
 * The image builder of Apple's `container` is itself a small VM. When the
 * host's network changes under it (new vmnet subnet after a restart or a
 * network switch), the builder keeps its old DNS server and builds that
 * fetch anything fail with resolver errors. Before a build, compare the
 * builder's nameservers with its current network gateway and restart it
 * when they disagree.
 */
import type { Reporter } from '@bot-bottle/core';
import type { ContainerCli } from './runtime.js';

interface BuilderSnapshot {
  readonly status?: string;
  readonly configuration?: { readonly dns?: { readonly nameservers?: readonly string[] } };
  readonly networks?: readonly { readonly gateway?: string }[];
}

/** From `container builder status --format json`: the stale nameservers and the gateway, or undefined when fine. */
export function staleBuilderDns(statusJson: string): { nameservers: string[]; gateway: string } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(statusJson);
  } catch {
    return undefined;
  }
  const snapshot = (Array.isArray(parsed) ? parsed[0] : parsed) as BuilderSnapshot | undefined;
  if (!snapshot || snapshot.status !== 'running') return undefined;
  const nameservers = [...(snapshot.configuration?.dns?.nameservers ?? [])];
  const gateway = snapshot.networks?.find((n) => n.gateway)?.gateway;
  if (!gateway || nameservers.length === 0 || nameservers.includes(gateway)) return undefined;
  return { nameservers, gateway };
}

/** Restart the builder when its DNS is stale. Returns whether it restarted. Never fails a build on its own. */
export async function ensureBuilderDns(cli: ContainerCli, reporter: Reporter, signal?: AbortSignal): Promise<boolean> {
  const status = await cli.run(['builder', 'status', '--format', 'json'], {
    allowFailure: true,
    ...(signal ? { signal } : {}),
  });
  if (status.exitCode !== 0) return false;
  const stale = staleBuilderDns(status.stdout);
  if (!stale) return false;
  reporter.info(
    `restarting the container builder: its DNS server ${stale.nameservers.join(', ')} is not the network gateway ${stale.gateway}`,
  );
  const opts = { allowFailure: true, ...(signal ? { signal } : {}) };
  await cli.run(['builder', 'stop'], opts);
  await cli.run(['builder', 'delete', '--force'], opts);
  await cli.run(['builder', 'start'], signal ? { signal } : {});
  return true;
}

/** `container build -t tag -f dockerfile context`, after the builder DNS check. Resolves to the captured output. */
export async function buildImage(
  cli: ContainerCli,
  reporter: Reporter,
  args: { tag: string; dockerfile: string; context: string; checkBuilder?: boolean },
  signal?: AbortSignal,
) {
  if (args.checkBuilder !== false) await ensureBuilderDns(cli, reporter, signal);
  return cli.run(['build', '--tag', args.tag, '--file', args.dockerfile, args.context], {
    allowFailure: true,
    ...(signal ? { signal } : {}),
  });
}
