import { UsageError } from '@bot-bottle/core';

export interface PickChoice {
  readonly value: string;
  /** Text shown in the list (defaults to the value). */
  readonly name?: string;
  readonly description?: string;
}

/** True when both stdin and stderr (where prompts are drawn) are terminals. */
export function isInteractive(): boolean {
  return Boolean(process.stdin.isTTY) && Boolean(process.stderr.isTTY);
}

export interface PickOptions {
  /** Prompt title, e.g. "Select bottle to commit". */
  readonly message: string;
  /** What the command is missing, e.g. "a SLUG" (used in the no-terminal error). */
  readonly missing: string;
  /** How to pass it on the command line, e.g. "bot-bottle commit <SLUG>". */
  readonly usage: string;
  /** Where to find candidates, e.g. "`bot-bottle list active` shows running bottles". */
  readonly listHint: string;
  /** Produces the candidates; called only once a terminal is known to be there. */
  readonly choices: () => Promise<readonly PickChoice[]>;
  /** The error when there is nothing to pick from. */
  readonly whenEmpty: () => Error;
}

/** Thrown by {@link pick} when the person cancels (Esc / Ctrl-C). */
export class PickCancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'PickCancelled';
  }
}

/** The no-terminal error, raised before anything is read or listed. */
export function requireTerminal(options: Pick<PickOptions, 'missing' | 'usage' | 'listHint'>): void {
  if (!isInteractive()) {
    throw new UsageError(`${options.missing} is required when bot-bottle is not run in a terminal`, {
      hint: `pass it: ${options.usage} (${options.listHint})`,
    });
  }
}

/**
 * A filterable list (type to narrow it, Enter to choose). Without a
 * terminal it fails with a clear "pass it on the command line" error
 * before touching anything. The prompt is drawn on stderr so stdout stays
 * clean for --json output.
 */
export async function pick(options: PickOptions): Promise<string> {
  requireTerminal(options);
  const choices = await options.choices();
  if (choices.length === 0) throw options.whenEmpty();
  const { default: search } = await import('@inquirer/search');
  try {
    return await search(
      {
        message: options.message,
        pageSize: 12,
        source: (term) => {
          const needle = (term ?? '').toLowerCase();
          return choices
            .filter((choice) =>
              [choice.value, choice.name ?? '', choice.description ?? ''].some((text) => text.toLowerCase().includes(needle)),
            )
            .map((choice) => ({
              value: choice.value,
              name: choice.name ?? choice.value,
              ...(choice.description ? { description: choice.description } : {}),
            }));
        },
      },
      { output: process.stderr, clearPromptOnDone: true },
    );
  } catch (error) {
    if ((error as Error).name === 'ExitPromptError' || (error as Error).name === 'AbortPromptError') throw new PickCancelled();
    throw error;
  }
}
