import { z } from 'zod';

const NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

export const resourcesSchema = z
  .object({
    /** Memory limit in docker's notation, e.g. `2g`, `512m`. */
    memory: z.string().regex(/^\d+(?:\.\d+)?[bkmg]?$/i, 'expected a size such as "2g" or "512m"').optional(),
    /** Maximum number of processes in the bottle. */
    pids: z.number().int().positive().optional(),
    /** CPU limit, e.g. 1.5. */
    cpus: z.number().positive().optional(),
  })
  .strict();

export const bottleSchema = z
  .object({
    /** Backend name: `docker`, `macos-container`, `smolmachines`, or a third party's. */
    backend: z.string().min(1).default('docker'),
    /** Dockerfile path relative to the manifest. Exactly one of dockerfile or image. */
    dockerfile: z.string().min(1).optional(),
    /** Build context relative to the manifest (default: the Dockerfile's directory). */
    context: z.string().min(1).optional(),
    /** A local image reference. */
    image: z.string().min(1).optional(),
    /** The agent user inside the bottle (default: the image's user, else `node`). */
    user: z.string().min(1).optional(),
    /** The agent user's home (default `/home/<user>`). */
    home: z.string().startsWith('/').optional(),
    resources: resourcesSchema.optional(),
  })
  .strict()
  .superRefine((bottle, ctx) => {
    if ((bottle.dockerfile === undefined) === (bottle.image === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'a bottle needs exactly one of "dockerfile" or "image"' });
    }
  });

export const agentSchema = z
  .object({
    /** Key of the bottle in `bottles`. */
    bottle: z.string().min(1),
    template: z.enum(['claude', 'codex', 'shell']).default('shell'),
    /** Command for the `shell` template (a string runs through `sh -c`). */
    command: z.union([z.string().min(1), z.array(z.string()).min(1)]).optional(),
    prompt: z.string().default(''),
    skills: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    /** Copy the user's working directory into the bottle's home. */
    copyCwd: z.boolean().default(false),
  })
  .strict();

export const manifestSchema = z
  .object({
    $schema: z.string().optional(),
    bottles: z.record(z.string().regex(NAME, 'bottle names use a-z, 0-9 and "-"'), bottleSchema),
    agents: z.record(z.string().regex(NAME, 'agent names use a-z, 0-9 and "-"').max(42), agentSchema),
  })
  .strict()
  .superRefine((manifest, ctx) => {
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
  });

export type ResourcesConfig = z.infer<typeof resourcesSchema>;
export type BottleConfig = z.infer<typeof bottleSchema>;
export type AgentConfig = z.infer<typeof agentSchema>;
export type Manifest = z.infer<typeof manifestSchema>;
