/**
 * Host side: turn a bottle's manifest `egress` block into the proxy's
 * config and secrets. The secrets are read from the operator's environment
 * here, at start time, and go to the proxy process only.
 */
import type { EgressProxyConfig, EgressRoute, EgressSecrets } from './config.js';

/** The manifest's `bottles.<name>.egress` (structurally; core's EgressConfig fits). */
export interface EgressManifestBlock {
  readonly allow: readonly string[];
  readonly routes: readonly EgressRoute[];
}

export interface EgressPlanInput {
  readonly bottleName: string;
  readonly slug: string;
  readonly egress: EgressManifestBlock;
  readonly manifestFile?: string;
}

export interface EgressPlan {
  readonly config: EgressProxyConfig;
  readonly secrets: EgressSecrets;
  /** Environment variables a route needs that are unset or empty. */
  readonly missing: readonly string[];
}

export function planEgress(
  input: EgressPlanInput,
  env: Readonly<Record<string, string | undefined>>,
  overrides: Partial<Pick<EgressProxyConfig, 'listen' | 'logFile' | 'upstreamCaFile' | 'caCertFile'>> = {},
): EgressPlan {
  const secrets: Record<string, string> = {};
  const missing: string[] = [];
  for (const route of input.egress.routes) {
    const value = env[route.fromEnv];
    if (value === undefined || value === '') {
      if (!missing.includes(route.fromEnv)) missing.push(route.fromEnv);
    } else {
      secrets[route.fromEnv] = value;
    }
  }
  const config: EgressProxyConfig = {
    bottle: input.bottleName,
    slug: input.slug,
    ...(input.manifestFile !== undefined ? { manifestFile: input.manifestFile } : {}),
    allow: [...input.egress.allow],
    routes: input.egress.routes.map((route) => ({ host: route.host, header: route.header, fromEnv: route.fromEnv })),
    ...overrides,
  };
  return { config, secrets, missing };
}

/** The proxy variables an agent gets; lower- and upper-case, since tools disagree on which they read. */
export function proxyEnvironment(proxyUrl: string, noProxy: readonly string[] = ['localhost', '127.0.0.1', '::1']): Record<string, string> {
  const list = noProxy.join(',');
  return {
    HTTP_PROXY: proxyUrl,
    HTTPS_PROXY: proxyUrl,
    http_proxy: proxyUrl,
    https_proxy: proxyUrl,
    NO_PROXY: list,
    no_proxy: list,
  };
}
