import { ProcessError, type BotBottleError } from '@bot-bottle/core';

/**
 * What bot-bottle exits with for one of its errors. A ProcessError's
 * `exitCode` is the failed child's (docker's 125, tar's 2), which means
 * nothing to a script calling bot-bottle: that is a plain failure, 1.
 * Interrupts keep 130 and usage errors 2.
 */
export function cliExitCode(error: BotBottleError): number {
  if (error instanceof ProcessError) return 1;
  return error.exitCode || 1;
}
