import type { ManifestInput } from '@bot-bottle/core';

export type Template = 'shell' | 'claude' | 'codex';

export const TEMPLATES: readonly { value: Template; description: string }[] = [
  { value: 'claude', description: 'Claude Code' },
  { value: 'codex', description: 'OpenAI Codex CLI' },
  { value: 'shell', description: 'any command you give (runs through sh -c)' },
];

export interface InitAnswers {
  readonly agent: string;
  readonly template: Template;
  readonly backend: string;
  readonly image?: string;
  readonly dockerfile?: string;
  readonly command?: string;
}

/** A one-agent manifest; the bottle is named after the agent. Defaults stay out so the file stays short. */
export function buildManifest(answers: InitAnswers): ManifestInput {
  const bottle = {
    backend: answers.backend,
    ...(answers.image !== undefined ? { image: answers.image } : {}),
    ...(answers.dockerfile !== undefined ? { dockerfile: answers.dockerfile } : {}),
  };
  const agent = {
    bottle: answers.agent,
    template: answers.template,
    ...(answers.command !== undefined ? { command: answers.command } : {}),
  };
  return { bottles: { [answers.agent]: bottle }, agents: { [answers.agent]: agent } };
}
