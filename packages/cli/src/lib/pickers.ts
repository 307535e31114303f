import { BotBottleError, listBottles, type LoadedManifest, type StateStore } from '@bot-bottle/core';
import type { BackendRegistry } from '../backends/registry.js';
import { pick, type PickChoice } from '../ui/pick.js';

/** Pick an agent from the manifest (only on a terminal). */
export async function pickAgent(command: string, message: string, load: () => Promise<LoadedManifest>): Promise<string> {
  return pick({
    message,
    missing: 'an AGENT',
    usage: `bot-bottle ${command} <AGENT>`,
    listHint: '`bot-bottle list agents` shows the agents in bot-bottle.json',
    choices: async () => {
      const loaded = await load();
      return Object.entries(loaded.manifest.agents).map(
        ([name, agent]): PickChoice => ({
          value: name,
          name: `${name}  (${agent.template}, bottle ${agent.bottle})`,
        }),
      );
    },
    whenEmpty: () =>
      new BotBottleError('the manifest defines no agents', { hint: 'add one with `bot-bottle init --force` or edit bot-bottle.json' }),
  });
}

/** Pick a running bottle from every usable backend (only on a terminal). */
export async function pickActiveSlug(
  command: string,
  message: string,
  registry: () => BackendRegistry,
  store: () => StateStore,
): Promise<string> {
  return pick({
    message,
    missing: 'a SLUG',
    usage: `bot-bottle ${command} <SLUG>`,
    listHint: '`bot-bottle list active` shows running bottles',
    choices: async () => {
      const { usable } = await registry().usable();
      if (usable.length === 0 && registry().compatible.length === 0) throw registry().noBackendsError();
      const active = await listBottles(
        usable.map((entry) => entry.backend),
        store(),
      );
      return active.map(
        (bottle): PickChoice => ({
          value: bottle.slug,
          name: `${bottle.slug}  (${bottle.agentName}, ${bottle.backend})`,
        }),
      );
    },
    whenEmpty: () =>
      new BotBottleError('no bottle is running', { hint: 'start one with `bot-bottle start <AGENT>`' }),
  });
}

/** Pick a bottle that has saved state, e.g. to resume it (only on a terminal). */
export async function pickStateSlug(command: string, message: string, store: () => StateStore): Promise<string> {
  return pick({
    message,
    missing: 'a SLUG',
    usage: `bot-bottle ${command} <SLUG>`,
    listHint: '`bot-bottle list active` shows running bottles; committed bottles keep their state',
    choices: async () => {
      const choices: PickChoice[] = [];
      for (const slug of await store().listSlugs()) {
        const metadata = await store().readMetadata(slug);
        const committed = await store().readCommittedRef(slug);
        choices.push({
          value: slug,
          name: `${slug}  (${metadata?.agent ?? '?'}, ${metadata?.backend ?? '?'}${committed ? ', committed' : ''})`,
        });
      }
      return choices;
    },
    whenEmpty: () =>
      new BotBottleError('no bottle has saved state to resume', {
        hint: 'commit a running bottle with `bot-bottle commit <SLUG>` so it can be resumed later',
      }),
  });
}
