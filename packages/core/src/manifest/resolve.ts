import { resolve } from 'node:path';
import type { BottleSpec } from '../contract.js';
import { ManifestError, UnknownAgentError } from '../errors.js';
import { assertValidSlug, isValidAgentName } from '../slug.js';
import type { LoadedManifest } from './load.js';
import type { AgentConfig, BottleConfig } from './schema.js';
import { displayPath } from './validate.js';

export interface ResolvedAgent {
  readonly agent: AgentConfig;
  readonly bottleName: string;
  readonly bottle: BottleConfig;
}

const LIST_AGENTS_HINT = 'run `bot-bottle list agents` to see the agents this manifest defines';

/**
 * Look an agent up by name. The name is checked against the slug alphabet
 * first: it becomes part of a slug, a path and a container name.
 */
export function resolveAgent(loaded: LoadedManifest, agentName: string): ResolvedAgent {
  const { manifest, file } = loaded;
  if (!isValidAgentName(agentName)) {
    throw new UnknownAgentError(
      `invalid agent name ${JSON.stringify(agentName)}: agent names use a-z, 0-9 and '-', starting and ending with a letter or digit`,
      { hint: LIST_AGENTS_HINT },
    );
  }
  // Object.hasOwn: "constructor" is a valid agent name and must not find Object.prototype's.
  if (!Object.hasOwn(manifest.agents, agentName)) {
    const known = Object.keys(manifest.agents).sort();
    const listing = known.length > 0 ? `known agents: ${known.join(', ')}` : 'it defines no agents';
    throw new UnknownAgentError(`no agent named "${agentName}" in ${displayPath(file)}; ${listing}`, {
      hint: LIST_AGENTS_HINT,
    });
  }
  const agent = manifest.agents[agentName] as AgentConfig;
  // validateManifest guarantees this; a hand-built LoadedManifest might not.
  if (!Object.hasOwn(manifest.bottles, agent.bottle)) {
    throw new ManifestError(
      `${displayPath(file)}: agents.${agentName}.bottle: names bottle "${agent.bottle}", which is not defined under "bottles"`,
      { file },
    );
  }
  return { agent, bottleName: agent.bottle, bottle: manifest.bottles[agent.bottle] as BottleConfig };
}

/** Everything a backend needs to prepare one bottle of `agentName`. */
export function buildSpec(loaded: LoadedManifest, agentName: string, slug: string, cwd: string): BottleSpec {
  const { agent, bottleName, bottle } = resolveAgent(loaded, agentName);
  return {
    slug: assertValidSlug(slug),
    agentName,
    agent,
    bottleName,
    bottle,
    manifestDir: loaded.dir,
    cwd: resolve(cwd),
  };
}
