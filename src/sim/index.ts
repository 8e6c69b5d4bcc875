// The seeded deterministic Raft simulator: public surface.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { simulate, type SimOptions } from './raft-sim.js';

export { simulate, runSim, EXPECTED_CODE, type BugSwitch, type GroundTruth, type Manifestation, type SimOptions } from './raft-sim.js';

/**
 * Streams a simulation to a capture file (format v1) without holding the events in memory.
 * Resolves with the number of events written.
 */
export async function writeSimCapture(opts: SimOptions, path: string): Promise<number> {
  const sim = simulate(opts);
  const out = createWriteStream(path);
  let n = 0;
  let buf = JSON.stringify(sim.header) + '\n';
  for (const ev of sim.events) {
    buf += JSON.stringify(ev) + '\n';
    n++;
    if (buf.length > 1 << 16) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
  return n;
}
