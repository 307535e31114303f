import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  CONTRACT_CASES,
  runContractCases,
  runContractSuite,
  type ContractHarness,
} from '../../src/contract-suite/index.js';
import { FAKE_AGENT, FAKE_IMAGE, createFakePlugin, type FakeBackendOptions } from './fake-backend.js';

function fakeHarness(title: string, options: FakeBackendOptions = {}): ContractHarness & { engine: ReturnType<typeof createFakePlugin>['engine'] } {
  const { plugin, engine } = createFakePlugin(options);
  return {
    title,
    plugin,
    engine,
    fixture: {
      bottle: { backend: plugin.name, image: FAKE_IMAGE },
      agentUser: FAKE_AGENT.name,
      agentUid: FAKE_AGENT.uid,
      agentHome: FAKE_AGENT.home,
    },
    deleteSnapshot: (ref) => rm(ref, { force: true }),
    timeoutMs: 30_000,
  };
}

// The suite as a backend package runs it, against a faithful fake...
runContractSuite(fakeHarness('fake (in-memory)'));

// ...one that stops the bottle to commit and says so...
runContractSuite(
  fakeHarness('fake that stops to commit (declares commitWhileRunning: false)', {
    capabilities: { commitWhileRunning: false },
    faults: { stopOnCommit: true },
  }),
);

// ...and one whose snapshots remap owners, restoring the home on boot.
runContractSuite(
  fakeHarness('fake that remaps owners (declares preservesOwnership: false)', {
    capabilities: { preservesOwnership: false },
    faults: { remapOwnersTo: 501 },
  }),
);

describe('the contract suite catches broken backends', () => {
  const broken: { title: string; options: FakeBackendOptions; failingCase: number; message: RegExp; timeoutMs?: number }[] = [
    {
      title: 'a freezer that stops the bottle while declaring commitWhileRunning',
      options: { faults: { stopOnCommit: true } },
      failingCase: 5,
      message: /execs run around the commit failed[\s\S]*no bottle named bot-bottle-contract-/,
    },
    {
      title: 'exec that throws for a non-zero exit',
      options: { faults: { execThrowsOnFailure: true } },
      failingCase: 4,
      message: /threw instead of returning a result/,
    },
    {
      title: 'launch that ignores the committed snapshot',
      options: { faults: { ignoreSnapshot: true } },
      failingCase: 9,
      message: /must say it boots from the committed snapshot/,
    },
    {
      title: 'snapshots that keep /tmp and /var/tmp',
      options: { faults: { keepTmpInSnapshot: true } },
      failingCase: 9,
      message: /stale files from before the commit survived/,
    },
    {
      title: 'owners remapped while declaring preservesOwnership',
      options: { faults: { remapOwnersTo: 501 } },
      failingCase: 9,
      message: /owned-by-4242 after resume/,
    },
    {
      title: 'an interrupted freeze that leaves its temporary files',
      options: { faults: { leakTempOnAbort: true } },
      failingCase: 12,
      message: /temporary files were left/,
    },
    {
      title: 'a freeze that ignores its signal and writes over the previous snapshot',
      options: { faults: { ignoreAbort: true } },
      failingCase: 12,
      message: /after-commit\.txt, written after the last successful commit, exists after resuming/,
    },
    {
      title: 'a commit that never returns',
      options: { faults: { hangingFreeze: true } },
      failingCase: 5,
      message: /did not return within \d+ s while execs ran alongside it; \d+ execs completed/,
      timeoutMs: 3_000,
    },
    {
      title: 'an unavailable backend',
      options: { availability: { available: false, reason: 'no engine here', fix: 'start the engine' } },
      failingCase: 1,
      message: /no engine here[\s\S]*start the engine/,
    },
  ];

  it.each(broken)('$title fails case $failingCase', async ({ options, failingCase, message, timeoutMs }) => {
    const harness = { ...fakeHarness('broken fake', options), ...(timeoutMs ? { timeoutMs } : {}) };
    const report = await runContractCases(harness);
    const failed = report.outcomes.filter((o) => !o.passed);
    expect(report.outcomes).toHaveLength(CONTRACT_CASES.length);
    expect(failed[0]?.id, `failures: ${failed.map((f) => `${f.id}: ${(f.error as Error).message}`).join('\n')}`).toBe(failingCase);
    expect((failed[0]?.error as Error).message).toMatch(message);
    // Everything before the first failure passed: the fault is what broke it.
    expect(report.outcomes.filter((o) => o.id < failingCase).every((o) => o.passed)).toBe(true);
    // And the suite cleaned up after itself anyway.
    expect(report.cleanupError).toBeUndefined();
    expect(harness.engine.containers.size).toBe(0);
    expect(existsSync(report.root)).toBe(false);
  });

  it('fails the cases that build on a failed one, naming it', async () => {
    const report = await runContractCases(
      fakeHarness('unavailable fake', { availability: { available: false, reason: 'no engine', fix: 'start it' } }),
    );
    const case2 = report.outcomes.find((o) => o.id === 2);
    expect(case2?.passed).toBe(false);
    expect((case2?.error as Error).message).toMatch(/builds on case 1 \(.*\), which did not pass/);
    expect(report.outcomes.every((o) => !o.passed)).toBe(true);
  });

  it('runs a faithful fake clean through the programmatic runner and removes its temporary home', async () => {
    const harness = fakeHarness('faithful fake');
    const report = await runContractCases(harness);
    expect(report.outcomes.filter((o) => !o.passed).map((o) => `${o.id}: ${(o.error as Error).message}`)).toEqual([]);
    expect(report.cleanupError).toBeUndefined();
    expect(existsSync(report.root)).toBe(false);
    expect(harness.engine.containers.size).toBe(0);
  });
});
