// zod/mini: the same validator core as 'zod' without the chainable methods
// every classic schema instance carries; building this schema with it costs
// a CLI start-up about half as much.
import * as z from 'zod/mini';

const NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

export const resourcesSchema = z.strictObject({
  /** Memory limit in docker's notation, e.g. `2g`, `512m`. */
  memory: z.optional(z.string().check(z.regex(/^\d+(?:\.\d+)?[bkmg]?$/i, 'expected a size such as "2g" or "512m"'))),
  /** Maximum number of processes in the bottle. */
  pids: z.optional(z.int().check(z.positive())),
  /** CPU limit, e.g. 1.5. */
  cpus: z.optional(z.number().check(z.positive())),
});

/** A DNS label: letters, digits and "-", not starting or ending with "-". */
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/**
 * One allowed host: an exact name (`api.github.com`) or a wildcard for every
 * subdomain (`*.npmjs.org`, which does not match `npmjs.org` itself), with an
 * optional `:port` (without one, ports 443 and 80 are allowed).
 */
export const EGRESS_HOST_PATTERN = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*(?::(?:[1-9]\\d{0,4}))?$`, 'i');
/** An exact host name (no wildcard, no port), for routes. */
const EXACT_HOST = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`, 'i');
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;
/** An environment variable name. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const egressRouteSchema = z.strictObject({
  /** The host whose requests get the header (exact name; it must also be allowed). */
  host: z.string().check(z.regex(EXACT_HOST, 'expected an exact host name such as "api.github.com"')),
  /** Header to inject, e.g. `authorization`. */
  header: z.string().check(z.regex(HEADER_NAME, 'expected an HTTP header name such as "authorization"')),
  /** The operator's environment variable holding the header's value, read when the bottle starts. */
  fromEnv: z.string().check(z.regex(ENV_NAME, 'expected an environment variable name such as "GITHUB_TOKEN"')),
});

export const egressSchema = z
  .strictObject({
    /** Hosts the bottle may reach: exact names or `*.` wildcards, optional `:port` (default 443 and 80). */
    allow: z._default(
      z.array(
        z.string().check(
          z.regex(EGRESS_HOST_PATTERN, 'expected a host such as "api.github.com", "*.npmjs.org" or "example.com:8443"'),
          z.refine((host) => !/:(\d+)$/.test(host) || Number(/:(\d+)$/.exec(host)?.[1]) <= 65535, 'ports go up to 65535'),
        ),
      ),
      [],
    ),
    /** Headers injected by the egress proxy; their values never enter the bottle. */
    routes: z._default(z.array(egressRouteSchema), []),
  })
  .check(
    z.superRefine((egress, ctx) => {
      const seen = new Set<string>();
      egress.routes.forEach((route, index) => {
        const host = route.host.toLowerCase();
        const key = `${host} ${route.header.toLowerCase()}`;
        if (seen.has(key)) {
          ctx.addIssue({ code: 'custom', path: ['routes', index], message: `header "${route.header}" is injected for ${route.host} twice` });
        }
        seen.add(key);
        if (!egressHostAllowed(egress.allow, host)) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', index, 'host'],
            message: `${route.host} is not in "allow"; add it (a route only applies to a host the bottle may reach)`,
          });
        }
      });
    }),
  );

/** True when some pattern of `allow` admits `host` on the TLS port (what a route needs). */
function egressHostAllowed(allow: readonly string[], host: string): boolean {
  return allow.some((raw) => {
    const pattern = raw.toLowerCase();
    const colon = pattern.lastIndexOf(':');
    const name = colon >= 0 ? pattern.slice(0, colon) : pattern;
    const port = colon >= 0 ? pattern.slice(colon + 1) : undefined;
    if (port !== undefined && port !== '443') return false;
    return name.startsWith('*.') ? host.endsWith(name.slice(1)) && host.length > name.length - 1 : host === name;
  });
}

export const bottleSchema = z
  .strictObject({
    /** Backend name: `docker`, `macos-container`, `smolmachines`, or a third party's. */
    backend: z._default(z.string().check(z.minLength(1)), 'docker'),
    /** Dockerfile path relative to the manifest. Exactly one of dockerfile or image. */
    dockerfile: z.optional(z.string().check(z.minLength(1))),
    /** Build context relative to the manifest (default: the Dockerfile's directory). */
    context: z.optional(z.string().check(z.minLength(1))),
    /** A local image reference. */
    image: z.optional(z.string().check(z.minLength(1))),
    /** The agent user inside the bottle (default: the image's user, else `node`). */
    user: z.optional(z.string().check(z.minLength(1))),
    /** The agent user's home (default `/home/<user>`). */
    home: z.optional(z.string().check(z.startsWith('/'))),
    resources: z.optional(resourcesSchema),
    /**
     * Network policy: the only hosts the bottle may reach, and headers
     * injected on the way out. A bottle that declares it runs only on a
     * backend that enforces it.
     */
    egress: z.optional(egressSchema),
  })
  .check(
    z.superRefine((bottle, ctx) => {
      if ((bottle.dockerfile === undefined) === (bottle.image === undefined)) {
        ctx.addIssue({ code: 'custom', message: 'a bottle needs exactly one of "dockerfile" or "image"' });
      }
    }),
  );

export const agentSchema = z.strictObject({
  /** Key of the bottle in `bottles`. */
  bottle: z.string().check(z.minLength(1)),
  template: z._default(z.enum(['claude', 'codex', 'shell']), 'shell'),
  /** Command for the `shell` template (a string runs through `sh -c`). */
  command: z.optional(z.union([z.string().check(z.minLength(1)), z.array(z.string()).check(z.minLength(1))])),
  prompt: z._default(z.string(), ''),
  skills: z._default(z.array(z.string()), []),
  env: z._default(z.record(z.string(), z.string()), {}),
  /** Copy the user's working directory into the bottle's home. */
  copyCwd: z._default(z.boolean(), false),
});

export const manifestSchema = z
  .strictObject({
    $schema: z.optional(z.string()),
    bottles: z.record(z.string().check(z.regex(NAME, 'bottle names use a-z, 0-9 and "-"')), bottleSchema),
    agents: z.record(z.string().check(z.regex(NAME, 'agent names use a-z, 0-9 and "-"'), z.maxLength(42)), agentSchema),
  })
  .check(
    z.superRefine((manifest, ctx) => {
      for (const [name, agent] of Object.entries(manifest.agents)) {
        if (!(agent.bottle in manifest.bottles)) {
          ctx.addIssue({
            code: 'custom',
            path: ['agents', name, 'bottle'],
            message: `names bottle "${agent.bottle}", which is not defined under "bottles"`,
          });
        }
        if (agent.template === 'shell' && agent.command === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['agents', name, 'command'],
            message: 'a "shell" agent needs a "command"',
          });
        }
      }
    }),
  );

export type EgressRouteConfig = z.infer<typeof egressRouteSchema>;
export type EgressConfig = z.infer<typeof egressSchema>;
export type ResourcesConfig = z.infer<typeof resourcesSchema>;
export type BottleConfig = z.infer<typeof bottleSchema>;
export type AgentConfig = z.infer<typeof agentSchema>;
export type Manifest = z.infer<typeof manifestSchema>;
