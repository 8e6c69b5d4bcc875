// One replay in a fresh process, so its peak RSS is its own: `node replay-child.js FILE`.
// Runs the CLI's own command (`raftguard replay --json FILE`, with everything it sets up, such as the
// heap settings of src/runtime/heap.ts), reading its output instead of printing it.
// Prints one JSON line: {"events":…,"ms":…,"peakRssMB":…,"findings":…,"critical":…,"exitCode":…}.
import { replayCommand } from '../../src/cli/replay.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: replay-child FILE\n');
  process.exit(2);
}
let events = -1;
let findings = 0;
let critical = 0;
let errors = '';
const t0 = performance.now();
const exitCode = await replayCommand(['--json', file], {
  out(s) {
    // --json prints one finding per line, then {"summary":…}.
    const o = JSON.parse(s) as { severity?: string; summary?: { events: number } };
    if (o.summary) events = o.summary.events;
    else {
      findings++;
      if (o.severity === 'critical') critical++;
    }
  },
  err(s) {
    errors += s;
  },
});
const ms = performance.now() - t0;
if (events < 0 || exitCode === 2) {
  process.stderr.write(`replay-child: replay of ${file} failed (exit ${exitCode}): ${errors}\n`);
  process.exit(2);
}
process.stdout.write(JSON.stringify({ events, ms, peakRssMB: process.resourceUsage().maxRSS / 1024, findings, critical, exitCode }) + '\n');
