// One replay in a fresh process, so its peak RSS is its own: `node replay-child.js FILE`.
// Prints one JSON line: {"events":…,"ms":…,"peakRssMB":…,"findings":…}.
import { replayFile } from '../../src/cli/replay.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: replay-child FILE\n');
  process.exit(2);
}
const t0 = performance.now();
const r = await replayFile(file);
const ms = performance.now() - t0;
process.stdout.write(
  JSON.stringify({
    events: r.summary.events,
    ms,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    findings: r.findings.length,
    critical: r.findings.filter((f) => f.severity === 'critical').length,
  }) + '\n',
);
