import { createInterface } from 'node:readline/promises';
import { PickCancelled } from './pick.js';

/**
 * Ask one line of text on the terminal (prompt on stderr). `check` returns
 * an error message to ask again, or undefined to accept.
 */
export async function ask(question: string, options: { default?: string; check?: (answer: string) => string | undefined } = {}): Promise<string> {
  for (;;) {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const controller = new AbortController();
    rl.on('SIGINT', () => controller.abort());
    let answer: string;
    try {
      const suffix = options.default !== undefined ? ` (${options.default})` : '';
      answer = (await rl.question(`? ${question}${suffix}: `, { signal: controller.signal })).trim();
    } catch (error) {
      if ((error as Error).name === 'AbortError') {
        process.stderr.write('\n');
        throw new PickCancelled();
      }
      throw error;
    } finally {
      rl.close();
    }
    if (answer.length === 0 && options.default !== undefined) answer = options.default;
    const problem = options.check?.(answer);
    if (problem === undefined) return answer;
    process.stderr.write(`  ${problem}\n`);
  }
}
