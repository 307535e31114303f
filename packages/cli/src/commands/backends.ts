import { CONTRACT_VERSION } from '@bot-bottle/core';
import { BaseCommand } from '../base-command.js';
import { table } from '../ui/table.js';

export interface BackendReport {
  readonly name: string;
  readonly package: string;
  readonly version: string;
  /** How oclif found it: core, user (plugins install), link (plugins link) or dev (workspace). */
  readonly source: string;
  /** The contract range the package declares. */
  readonly contract: string;
  readonly compatible: boolean;
  readonly available: boolean;
  readonly reason?: string;
  readonly fix?: string;
}

export interface BackendsResult {
  readonly contractVersion: string;
  readonly backends: BackendReport[];
  /** Set when no compatible backend is installed: the install command that fits this host. */
  readonly suggestion?: string;
}

export default class Backends extends BaseCommand {
  static override summary = 'Show the installed backends and whether each can run here.';

  static override description = `A backend is an oclif plugin whose package.json has a "botBottle" key naming the backend, the contract range it implements and its entry module. For each one this lists the package and version, the declared contract range, whether that range includes this CLI's contract version (incompatible plugins are not loaded; the others keep working), and whether the backend can run on this host, with the reason and the fix when it cannot.

Install a backend with \`bot-bottle plugins install @bot-bottle/backend-docker\` (or backend-macos-container, backend-smolmachines).`;

  static override examples = [
    { description: 'What is installed and usable:', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'As JSON:', command: '<%= config.bin %> <%= command.id %> --json' },
    { description: 'Install the docker backend:', command: '<%= config.bin %> plugins install @bot-bottle/backend-docker' },
  ];

  static override enableJsonFlag = true;

  async run(): Promise<BackendsResult> {
    await this.parse(Backends);
    const registry = this.registry();
    const statuses = await Promise.all(registry.discovered.map((info) => registry.check(info)));
    const backends: BackendReport[] = registry.discovered.map((info, index) => {
      const status = statuses[index]!;
      return {
        name: info.name,
        package: info.packageName,
        version: info.version,
        source: info.pluginType,
        contract: info.contract,
        compatible: info.compatible,
        available: status.available && status.loaded,
        ...(status.available && status.loaded ? {} : { reason: status.reason ?? 'not available' }),
        ...(status.fix && !(status.available && status.loaded) ? { fix: status.fix } : {}),
      };
    });
    const result: BackendsResult = {
      contractVersion: CONTRACT_VERSION,
      backends,
      ...(registry.compatible.length === 0 ? { suggestion: registry.installSuggestion() } : {}),
    };
    this.render(result);
    return result;
  }

  private render(result: BackendsResult): void {
    if (result.backends.length > 0) {
      this.log(
        table(
          ['BACKEND', 'PACKAGE', 'VERSION', 'CONTRACT', 'COMPATIBLE', 'AVAILABLE'],
          result.backends.map((backend) => [
            backend.name,
            backend.package,
            backend.version,
            backend.contract,
            backend.compatible ? 'yes' : 'no',
            backend.available ? 'yes' : 'no',
          ]),
        ),
      );
      for (const backend of result.backends.filter((entry) => !entry.available)) {
        this.log('');
        this.log(`${backend.name}: ${backend.reason ?? 'not available'}`);
        if (backend.fix) this.log(`  fix: ${backend.fix}`);
      }
      this.log('');
    }
    this.log(`this bot-bottle speaks backend contract ${result.contractVersion}`);
    if (result.suggestion) {
      this.log(`no compatible backend is installed; for this host: ${result.suggestion}`);
    }
  }
}
