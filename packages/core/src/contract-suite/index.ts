/**
 * `@bot-bottle/core/contract`: the contract test suite every backend runs
 * against its real runtime. See {@link runContractSuite}.
 */
export { runContractSuite, runContractCases, runContractCase } from './runner.js';
export type { ContractCaseOutcome, ContractRunReport } from './runner.js';
export type { ContractHarness, ContractFixture, ContractCleanupInfo } from './harness.js';
export {
  DEFAULT_CASE_TIMEOUT_MS,
  DEFAULT_ABORT_DELAY_MS,
  CONTRACT_AGENT_NAME,
  CONTRACT_BOTTLE_NAME,
  CONTRACT_AGENT_COMMAND,
} from './harness.js';
export { CONTRACT_CASES, BIG_FILE_SIZE, STALE_FILES, DETACHED_LOG, OWNED_FILE, CORE_STATE_FILES } from './cases.js';
export type { ContractCase } from './cases.js';
export { ContractRun } from './run.js';
export type { ContractFacts, RunOptions } from './run.js';
export { ProbeReporter, ProbeStore, listTree } from './probes.js';
export type { ProgressRecord } from './probes.js';
export { ContractViolation } from './assert.js';
