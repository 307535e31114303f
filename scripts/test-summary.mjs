// Print vitest's results as one line, "vitest: N passed, N failed, N skipped",
// and fail when CI requires engines but something was skipped anyway.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const passed = report.numPassedTests ?? 0;
const failed = (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0);
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
// An optional second argument labels a partial run ("unit on Node 22").
const label = process.argv[3] ? ` (${process.argv[3]})` : '';
console.log(`vitest${label}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed === 0) {
  console.error('test-summary: no test ran');
  process.exit(1);
}
if (process.env.BOT_BOTTLE_REQUIRE_ENGINES === '1' && skipped > 0) {
  console.error('test-summary: tests were skipped, which CI does not allow');
  process.exit(1);
}
process.exit(failed > 0 ? 1 : 0);
