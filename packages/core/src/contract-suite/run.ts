import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  BackendCapabilities,
  BackendContext,
  Bottle,
  BottleBackend,
  BottlePlan,
  BottleSpec,
  ExecOptions,
  ExecResult,
} from '../contract.js';
import type { CommitOptions, CommitResult, Freezer } from '../freezer.js';
import { PARSE_CONTEXT } from '../parse-context.js';
import { agentSchema, bottleSchema } from '../manifest/schema.js';
import { generateSlug } from '../slug.js';
import {
  ContractViolation,
  check,
  describeCommand,
  describeError,
  describeResult,
  fail,
} from './assert.js';
import {
  CONTRACT_AGENT_COMMAND,
  CONTRACT_AGENT_NAME,
  CONTRACT_BOTTLE_NAME,
  DEFAULT_ABORT_DELAY_MS,
  DEFAULT_CASE_TIMEOUT_MS,
  type ContractHarness,
} from './harness.js';
import { ProbeReporter, ProbeStore } from './probes.js';

/** Things a case learns and a later case checks. */
export interface ContractFacts {
  /** Content of ~/work/note.txt written before the first commit. */
  note?: string;
  /** sha256 of ~/work/big.bin written before the first commit. */
  bigSha256?: string;
  firstCommit?: CommitResult;
  /** The committed ref the interrupted-commit case must leave untouched. */
  refBeforeAbort?: string;
}

/** Exec options plus a short description used in failure messages. */
export type RunOptions = ExecOptions & { readonly what?: string };

/**
 * One run of the suite against one backend: a temporary BOT_BOTTLE_HOME,
 * the services a backend is constructed with, one slug, and the bottle the
 * cases share. Cases run in order; each records that it passed so a later
 * case that depends on it can say why it cannot run.
 */
export class ContractRun {
  readonly harness: ContractHarness;
  /** Temporary directory holding `home/`, `cwd/` and `manifest/`. */
  readonly root: string;
  readonly home: string;
  readonly cwd: string;
  readonly manifestDir: string;
  readonly store: ProbeStore;
  readonly reporter: ProbeReporter;
  readonly context: BackendContext;
  readonly slug: string;
  readonly timeoutMs: number;
  readonly abortDelayMs: number;
  readonly facts: ContractFacts = {};
  readonly passed = new Set<number>();
  readonly launchedSlugs = new Set<string>();
  readonly refs: string[] = [];
  bottle: Bottle | undefined;
  plan: BottlePlan | undefined;
  private services: { backend: BottleBackend; freezer: Freezer } | undefined;
  private closed = false;
  /** Commits that have not settled (a case may time out while one hangs). */
  private readonly pendingCommits = new Set<Promise<CommitResult>>();

  private constructor(harness: ContractHarness, root: string) {
    this.harness = harness;
    this.root = root;
    this.home = join(root, 'home');
    this.cwd = join(root, 'cwd');
    this.manifestDir = harness.fixture.manifestDir ?? join(root, 'manifest');
    this.store = new ProbeStore(this.home);
    this.reporter = new ProbeReporter();
    this.context = {
      store: this.store,
      reporter: this.reporter,
      env: { ...process.env, ...harness.env, BOT_BOTTLE_HOME: this.home },
    };
    this.slug = generateSlug(CONTRACT_AGENT_NAME);
    this.timeoutMs = harness.timeoutMs ?? DEFAULT_CASE_TIMEOUT_MS;
    this.abortDelayMs = harness.abortDelayMs ?? DEFAULT_ABORT_DELAY_MS;
  }

  static async open(harness: ContractHarness): Promise<ContractRun> {
    const parent = harness.tempDir ?? tmpdir();
    await mkdir(parent, { recursive: true });
    const root = await mkdtemp(join(parent, 'bot-bottle-contract-'));
    const run = new ContractRun(harness, root);
    await mkdir(run.home, { recursive: true });
    await mkdir(run.cwd, { recursive: true });
    if (harness.fixture.manifestDir === undefined) await mkdir(run.manifestDir, { recursive: true });
    return run;
  }

  get capabilities(): BackendCapabilities {
    return this.harness.plugin.capabilities;
  }

  get agentHome(): string {
    return this.harness.fixture.agentHome;
  }

  /** Create the backend and freezer from the plugin (case 1 does this, and reports a throw). */
  createServices(): { backend: BottleBackend; freezer: Freezer } {
    if (!this.services) {
      const backend = this.harness.plugin.createBackend(this.context);
      const freezer = this.harness.plugin.createFreezer(this.context);
      this.services = { backend, freezer };
    }
    return this.services;
  }

  get backend(): BottleBackend {
    if (!this.services) fail('the backend was never created: case 1 did not get that far');
    return this.services.backend;
  }

  get freezer(): Freezer {
    if (!this.services) fail('the freezer was never created: case 1 did not get that far');
    return this.services.freezer;
  }

  /** The spec every launch of the suite's bottle uses: the fixture bottle, an idling shell agent. */
  specFor(slug: string = this.slug): BottleSpec {
    const bottle = bottleSchema.parse(this.harness.fixture.bottle, PARSE_CONTEXT);
    const agent = agentSchema.parse(
      {
        bottle: CONTRACT_BOTTLE_NAME,
        template: 'shell',
        command: [...CONTRACT_AGENT_COMMAND],
      },
      PARSE_CONTEXT,
    );
    return {
      slug,
      agentName: CONTRACT_AGENT_NAME,
      agent,
      bottleName: CONTRACT_BOTTLE_NAME,
      bottle,
      manifestDir: this.manifestDir,
      cwd: this.cwd,
    };
  }

  /** Write the bottle's metadata the way `start` does before it launches. */
  async writeStartMetadata(slug: string = this.slug): Promise<void> {
    await this.store.writeMetadata({
      identity: slug,
      agent: CONTRACT_AGENT_NAME,
      backend: this.harness.plugin.name,
      cwd: this.cwd,
      startedAt: new Date().toISOString(),
    });
  }

  /** prepare + launch the suite's slug; the result becomes the shared bottle. */
  async launch(what: string, prepared?: BottlePlan): Promise<Bottle> {
    const plan = prepared ?? (await this.prepare(what));
    this.plan = plan;
    this.launchedSlugs.add(this.slug);
    let bottle: Bottle;
    try {
      bottle = await this.backend.launch(plan);
    } catch (error) {
      fail(`${what}: launch(plan) threw\n  reporter:\n${this.reporter.transcript()}\n  error`, error);
    }
    check(bottle, `${what}: launch(plan) resolved to ${String(bottle)} instead of a Bottle`);
    this.bottle = bottle;
    return bottle;
  }

  /** prepare(spec) for the suite's slug; a throw is reported with the spec it was given. */
  async prepare(what: string): Promise<BottlePlan> {
    const spec = this.specFor();
    try {
      const plan = await this.backend.prepare(spec);
      check(plan, `${what}: prepare(spec) resolved to ${String(plan)} instead of a plan`);
      return plan;
    } catch (error) {
      if (error instanceof ContractViolation) throw error;
      fail(`${what}: prepare(spec) threw for bottle ${JSON.stringify(spec.bottle)}`, error);
    }
  }

  requireBottle(): Bottle {
    if (!this.bottle) fail('no running bottle: an earlier case did not launch one');
    return this.bottle;
  }

  /** Run a command; a throw is a contract violation (exec never throws for a non-zero exit). */
  async exec(argv: readonly string[], options: RunOptions = {}, bottle: Bottle = this.requireBottle()): Promise<ExecResult> {
    const { what, ...execOptions } = options;
    let result: ExecResult;
    try {
      result = await bottle.exec(argv, execOptions);
    } catch (error) {
      fail(`${what ? `${what}: ` : ''}${describeCommand(argv, execOptions)} threw instead of returning a result`, error);
    }
    check(
      result && typeof result.exitCode === 'number' && typeof result.stdout === 'string' && typeof result.stderr === 'string',
      () => `${describeCommand(argv, execOptions)} resolved to ${JSON.stringify(result)}, not an ExecResult`,
    );
    return result;
  }

  /** Run a command that must exit 0; resolves to its stdout. */
  async run(argv: readonly string[], options: RunOptions = {}, bottle?: Bottle): Promise<string> {
    const result = await this.exec(argv, options, bottle);
    if (result.exitCode !== 0) {
      const { what, ...execOptions } = options;
      fail(`${what ? `${what}: ` : ''}${describeCommand(argv, execOptions)} failed\n  ${describeResult(result)}`);
    }
    return result.stdout;
  }

  /** `sh -c script` that must exit 0; resolves to its trimmed stdout. */
  async sh(script: string, options: RunOptions = {}, bottle?: Bottle): Promise<string> {
    return (await this.run(['sh', '-c', script], options, bottle)).trim();
  }

  /** Commit the suite's slug, remembering the ref for cleanup. */
  async commit(options: CommitOptions = {}, freezer: Freezer = this.freezer): Promise<CommitResult> {
    const pending = freezer.commit(this.slug, options);
    this.pendingCommits.add(pending);
    try {
      const result = await pending;
      if (result && typeof result.ref === 'string') this.rememberRef(result.ref);
      return result;
    } finally {
      this.pendingCommits.delete(pending);
    }
  }

  rememberRef(ref: string): void {
    if (!this.refs.includes(ref)) this.refs.push(ref);
  }

  /**
   * A bottle that answers exec. A backend that commits while running keeps
   * the same one; one that declares `commitWhileRunning: false` may stop it,
   * and the suite relaunches it (from the snapshot) so later cases can go on.
   * When an earlier case failed with no bottle up, this launches one.
   */
  async ensureRunning(what: string): Promise<Bottle> {
    if (this.bottle && this.capabilities.commitWhileRunning) return this.bottle;
    const attached = await this.backend.attach(this.slug);
    if (attached) {
      this.bottle = attached;
      return attached;
    }
    const why = this.bottle ? 'the backend does not commit while running' : 'no bottle was left running by the earlier cases';
    await this.backend.teardown(this.slug);
    return this.launch(`${what} (relaunch: ${why})`);
  }

  /**
   * Tear down every bottle, wait for a commit a timed-out case left behind,
   * delete every snapshot, run the harness's cleanup, remove the temp dir.
   * Every step runs even when an earlier one fails; failures are thrown
   * together at the end.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const errors: unknown[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (error) {
        errors.push(new ContractViolation(`cleanup: ${what} failed: ${describeError(error)}`, { cause: error }));
      }
    };
    let keepRoot = false;
    if (this.services) {
      for (const slug of this.launchedSlugs) await attempt(`teardown(${slug})`, () => this.backend.teardown(slug));
      // Such a commit still holds the state lock and may write under the
      // home: give it time to end now that its bottle is gone.
      if (this.pendingCommits.size > 0) {
        const count = this.pendingCommits.size;
        let timer: NodeJS.Timeout | undefined;
        const settled = await Promise.race([
          Promise.allSettled([...this.pendingCommits]).then(() => true),
          new Promise<false>((resolve) => {
            timer = setTimeout(() => resolve(false), Math.min(this.timeoutMs, 60_000));
          }),
        ]);
        clearTimeout(timer);
        if (!settled) {
          keepRoot = true;
          errors.push(
            new ContractViolation(
              `cleanup: ${count} commit(s) had still not returned after the bottle was torn down; leaving ${this.root} in place`,
            ),
          );
        }
      }
      // Every ref, including one case 10 deleted: a later commit may reuse its name.
      for (const ref of this.refs) {
        await attempt(`deleteSnapshot(${ref})`, async () => {
          if (await this.backend.snapshotExists(ref)) await this.harness.deleteSnapshot(ref);
        });
      }
    }
    if (this.harness.cleanup) {
      const cleanup = this.harness.cleanup.bind(this.harness);
      await attempt('harness cleanup', () => cleanup({ home: this.home, slugs: [...this.launchedSlugs], refs: [...this.refs] }));
    }
    if (!keepRoot) await attempt(`removing ${this.root}`, () => rm(this.root, { recursive: true, force: true }));
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `contract suite cleanup: ${errors.length} steps failed`);
  }
}
