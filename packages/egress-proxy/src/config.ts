/**
 * The proxy's configuration (JSON, from the host) and its secrets (kept
 * apart: they arrive through stdin or the sidecar's own environment, never
 * in the config file, and live only in the proxy's memory).
 */
import { readFileSync } from 'node:fs';
import { parseHostRule, normaliseHost, type PolicyError } from './policy.js';

export interface EgressRoute {
  /** Exact host whose requests get the header. */
  readonly host: string;
  /** Header name, e.g. `authorization`. */
  readonly header: string;
  /** Name of the operator's environment variable the value came from; the key into the secrets. */
  readonly fromEnv: string;
}

export interface EgressProxyConfig {
  /** The manifest's bottle name: 403 answers name `bottles.<bottle>.egress.allow`. */
  readonly bottle: string;
  /** The bottle's slug, recorded in every log line. */
  readonly slug?: string;
  /** The manifest file, named in 403 answers. */
  readonly manifestFile?: string;
  readonly allow: readonly string[];
  readonly routes: readonly EgressRoute[];
  /** Address to listen on (default 0.0.0.0:3128; port 0 picks a free one). */
  readonly listen?: { readonly host?: string; readonly port?: number };
  /** Append one JSON line per decision here. */
  readonly logFile?: string;
  /** PEM bundle that upstream TLS is verified against (default: Node's built-in roots). */
  readonly upstreamCaFile?: string;
  /** Write the minted CA's certificate (PEM) here once listening. */
  readonly caCertFile?: string;
}

/** Header values by `fromEnv` name. */
export type EgressSecrets = Readonly<Record<string, string>>;

/** Environment variable of the sidecar that may carry the secrets (JSON object); removed from process.env once read. */
export const SECRETS_ENV = 'BOT_BOTTLE_EGRESS_SECRETS';
/** Environment variable that may carry the config as JSON (instead of --config FILE). */
export const CONFIG_ENV = 'BOT_BOTTLE_EGRESS_CONFIG';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Headers the proxy owns: injecting them would break framing or the proxy itself. */
const RESERVED_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'keep-alive']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringArray(value: unknown, key: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw new ConfigError(`${key}: expected an array of strings`);
  }
  return value as string[];
}

function optionalString(raw: Record<string, unknown>, key: string): string | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new ConfigError(`${key}: expected a non-empty string`);
  return value;
}

/** Check a parsed config object; throws ConfigError naming the key. */
export function parseConfig(raw: unknown): EgressProxyConfig {
  if (!isObject(raw)) throw new ConfigError('config: expected a JSON object');
  const known = new Set(['bottle', 'slug', 'manifestFile', 'allow', 'routes', 'listen', 'logFile', 'upstreamCaFile', 'caCertFile']);
  for (const key of Object.keys(raw)) if (!known.has(key)) throw new ConfigError(`config: unknown key ${JSON.stringify(key)}`);
  const bottle = optionalString(raw, 'bottle');
  if (bottle === undefined) throw new ConfigError('bottle: is required');
  const allow = stringArray(raw.allow, 'allow');
  for (const pattern of allow) {
    try {
      parseHostRule(pattern);
    } catch (error) {
      throw new ConfigError(`allow: ${(error as PolicyError).message}`);
    }
  }
  if (raw.routes !== undefined && !Array.isArray(raw.routes)) throw new ConfigError('routes: expected an array');
  const routes = ((raw.routes as unknown[] | undefined) ?? []).map((route, index): EgressRoute => {
    const at = `routes[${index}]`;
    if (!isObject(route)) throw new ConfigError(`${at}: expected an object`);
    const { host, header, fromEnv } = route;
    if (typeof host !== 'string' || host.length === 0 || host.includes('*')) throw new ConfigError(`${at}.host: expected an exact host name`);
    if (typeof header !== 'string' || !HEADER_NAME.test(header)) throw new ConfigError(`${at}.header: expected an HTTP header name`);
    if (RESERVED_HEADERS.has(header.toLowerCase())) throw new ConfigError(`${at}.header: ${header} cannot be injected`);
    if (typeof fromEnv !== 'string' || !ENV_NAME.test(fromEnv)) throw new ConfigError(`${at}.fromEnv: expected an environment variable name`);
    return { host: normaliseHost(host), header: header.toLowerCase(), fromEnv };
  });
  let listen: EgressProxyConfig['listen'];
  if (raw.listen !== undefined) {
    if (!isObject(raw.listen)) throw new ConfigError('listen: expected an object');
    const { host, port } = raw.listen;
    if (host !== undefined && typeof host !== 'string') throw new ConfigError('listen.host: expected a string');
    if (port !== undefined && (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535)) {
      throw new ConfigError('listen.port: expected a port number');
    }
    listen = { ...(host !== undefined ? { host } : {}), ...(port !== undefined ? { port } : {}) };
  }
  const slug = optionalString(raw, 'slug');
  const manifestFile = optionalString(raw, 'manifestFile');
  const logFile = optionalString(raw, 'logFile');
  const upstreamCaFile = optionalString(raw, 'upstreamCaFile');
  const caCertFile = optionalString(raw, 'caCertFile');
  return {
    bottle,
    allow,
    routes,
    ...(slug !== undefined ? { slug } : {}),
    ...(manifestFile !== undefined ? { manifestFile } : {}),
    ...(listen !== undefined ? { listen } : {}),
    ...(logFile !== undefined ? { logFile } : {}),
    ...(upstreamCaFile !== undefined ? { upstreamCaFile } : {}),
    ...(caCertFile !== undefined ? { caCertFile } : {}),
  };
}

export function loadConfigFile(file: string): EgressProxyConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config ${file}: ${(error as Error).message}`);
  }
  return parseConfigText(text, file);
}

export function parseConfigText(text: string, source: string): EgressProxyConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${source}: not valid JSON (${(error as Error).message})`);
  }
  return parseConfig(raw);
}

/** Secrets as a JSON object of strings. */
export function parseSecrets(text: string, source: string): EgressSecrets {
  if (text.trim() === '') return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // Never echo the text: it is a secret.
    throw new ConfigError(`${source}: secrets are not valid JSON`);
  }
  if (!isObject(raw) || Object.values(raw).some((value) => typeof value !== 'string')) {
    throw new ConfigError(`${source}: secrets must be a JSON object of strings`);
  }
  return raw as Record<string, string>;
}

/** Every route has its secret, and no secret value could break a header. */
export function checkSecrets(config: EgressProxyConfig, secrets: EgressSecrets): void {
  for (const route of config.routes) {
    const value = secrets[route.fromEnv];
    if (value === undefined || value.length === 0) {
      throw new ConfigError(`no value for ${route.fromEnv}, which the route for ${route.host} injects as ${route.header}`);
    }
    if (/[\r\n\0]/.test(value)) throw new ConfigError(`the value of ${route.fromEnv} contains a line break or NUL; it cannot be a header value`);
  }
}
