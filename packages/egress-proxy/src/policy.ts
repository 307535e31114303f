/**
 * The allow-list: which host and port a bottle may reach. Patterns are the
 * manifest's `egress.allow` entries: an exact name (`api.github.com`), a
 * wildcard for every subdomain (`*.npmjs.org`, not `npmjs.org` itself), each
 * with an optional `:port`. Without a port, 443 and 80 are allowed.
 */
export const DEFAULT_PORTS: readonly number[] = [443, 80];

export interface HostRule {
  /** The entry as written in the manifest. */
  readonly pattern: string;
  /** Lower-case name without the `*.` (for wildcards, the suffix after it). */
  readonly name: string;
  readonly wildcard: boolean;
  readonly ports: readonly number[];
}

export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

export function parseHostRule(pattern: string): HostRule {
  const lower = pattern.trim().toLowerCase();
  const match = /^(.*?)(?::(\d{1,5}))?$/.exec(lower);
  const hostPart = match?.[1] ?? '';
  const portPart = match?.[2];
  const wildcard = hostPart.startsWith('*.');
  const name = wildcard ? hostPart.slice(2) : hostPart;
  if (!NAME.test(name)) throw new PolicyError(`invalid allowed host ${JSON.stringify(pattern)}`);
  let ports = DEFAULT_PORTS;
  if (portPart !== undefined) {
    const port = Number(portPart);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new PolicyError(`invalid port in ${JSON.stringify(pattern)}`);
    ports = [port];
  }
  return { pattern, name, wildcard, ports };
}

/** Normalise a host as it arrives in a request: lower case, no trailing dot, no IPv6 brackets. */
export function normaliseHost(host: string): string {
  let out = host.trim().toLowerCase();
  if (out.startsWith('[') && out.endsWith(']')) out = out.slice(1, -1);
  while (out.endsWith('.')) out = out.slice(0, -1);
  return out;
}

export function ruleMatches(rule: HostRule, host: string, port: number): boolean {
  if (!rule.ports.includes(port)) return false;
  if (rule.wildcard) return host.endsWith(`.${rule.name}`);
  return host === rule.name;
}

export class EgressPolicy {
  readonly rules: readonly HostRule[];

  constructor(allow: readonly string[]) {
    this.rules = allow.map(parseHostRule);
  }

  /** The rule that admits `host:port`, or undefined when none does. */
  match(host: string, port: number): HostRule | undefined {
    const normal = normaliseHost(host);
    return this.rules.find((rule) => ruleMatches(rule, normal, port));
  }

  allows(host: string, port: number): boolean {
    return this.match(host, port) !== undefined;
  }
}

/** What the manifest entry for `host:port` would look like (the 403 suggests it). */
export function suggestedPattern(host: string, port: number): string {
  const normal = normaliseHost(host);
  const name = normal.includes(':') ? `[${normal}]` : normal;
  return DEFAULT_PORTS.includes(port) ? name : `${name}:${port}`;
}
