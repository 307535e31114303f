import { afterAll, beforeAll, describe, it } from 'vitest';
import { CONTRACT_VERSION } from '../contract.js';
import { ContractViolation, describeError } from './assert.js';
import { CONTRACT_CASES, type ContractCase } from './cases.js';
import { DEFAULT_CASE_TIMEOUT_MS, type ContractHarness } from './harness.js';
import { ContractRun } from './run.js';

/** Run one case, failing with a clear message when a case it builds on did not pass. */
export async function runContractCase(run: ContractRun, contractCase: ContractCase): Promise<void> {
  const blocked = contractCase.needs.filter((id) => !run.passed.has(id));
  if (blocked.length > 0) {
    const names = blocked.map((id) => {
      const needed = CONTRACT_CASES.find((c) => c.id === id);
      return `${id} (${needed ? needed.title(run.capabilities) : 'unknown case'})`;
    });
    throw new ContractViolation(`cannot run: it builds on case ${names.join(', ')}, which did not pass`);
  }
  await contractCase.run(run);
  run.passed.add(contractCase.id);
}

/**
 * Register the contract suite with vitest: one `describe` whose `it`s run
 * in order against one bottle of the backend's real runtime. A backend's
 * test file calls this once at top level:
 *
 *     runContractSuite({ title: 'docker (real engine)', plugin, fixture, deleteSnapshot });
 *
 * Nothing is skipped: a case that cannot run because an earlier one failed
 * fails too, naming the case it builds on. Behaviour that differs between
 * backends follows the plugin's declared capabilities.
 */
export function runContractSuite(harness: ContractHarness): void {
  const timeout = harness.timeoutMs ?? DEFAULT_CASE_TIMEOUT_MS;
  describe.sequential(`bot-bottle contract ${CONTRACT_VERSION}: ${harness.title}`, () => {
    let run: ContractRun | undefined;
    let openError: unknown;

    beforeAll(async () => {
      try {
        run = await ContractRun.open(harness);
      } catch (error) {
        openError = error;
      }
    }, timeout);

    afterAll(async () => {
      await run?.close();
    }, timeout);

    for (const contractCase of CONTRACT_CASES) {
      it(
        `${contractCase.id}. ${contractCase.title(harness.plugin.capabilities)}`,
        async () => {
          if (!run) {
            throw new ContractViolation(`the suite could not create its temporary BOT_BOTTLE_HOME: ${describeError(openError)}`);
          }
          await runContractCase(run, contractCase);
        },
        timeout,
      );
    }
  });
}

export interface ContractCaseOutcome {
  readonly id: number;
  readonly title: string;
  readonly passed: boolean;
  /** Why it failed. */
  readonly error?: unknown;
}

export interface ContractRunReport {
  readonly outcomes: readonly ContractCaseOutcome[];
  /** The temporary directory the run used (removed by the time the report is returned, unless cleanup failed). */
  readonly root: string;
  /** Set when tearing down, deleting snapshots or removing the temp home failed. */
  readonly cleanupError?: unknown;
}

/**
 * Run the contract without vitest's `describe`/`it` and report each case's
 * outcome. For tooling, and for testing the suite itself against backends
 * that are broken on purpose. Cases run in order; `cases` picks a subset.
 */
export async function runContractCases(
  harness: ContractHarness,
  options: { readonly cases?: readonly number[] } = {},
): Promise<ContractRunReport> {
  const timeout = harness.timeoutMs ?? DEFAULT_CASE_TIMEOUT_MS;
  const selected = CONTRACT_CASES.filter((c) => !options.cases || options.cases.includes(c.id));
  const run = await ContractRun.open(harness);
  const outcomes: ContractCaseOutcome[] = [];
  let cleanupError: unknown;
  try {
    for (const contractCase of selected) {
      const title = contractCase.title(harness.plugin.capabilities);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          runContractCase(run, contractCase),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new ContractViolation(`timed out after ${timeout} ms`)), timeout);
          }),
        ]);
        outcomes.push({ id: contractCase.id, title, passed: true });
      } catch (error) {
        outcomes.push({ id: contractCase.id, title, passed: false, error });
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    try {
      await run.close();
    } catch (error) {
      cleanupError = error;
    }
  }
  return cleanupError === undefined ? { outcomes, root: run.root } : { outcomes, root: run.root, cleanupError };
}
