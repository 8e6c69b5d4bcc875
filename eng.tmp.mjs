import { createEngine } from './dist/src/engine.js';
import { simulate } from './dist/src/sim/index.js';
const s = simulate({ seed: 1, nodes: 5, maxEvents: 400000, durationMs: 1e9 });
const evs = [...s.events];
const rounds = Number(process.argv[2] ?? 5);
for (let r = 0; r < rounds; r++) {
  const e = createEngine({ nodes: s.header.nodes, thresholds: s.header.thresholds });
  const t0 = performance.now();
  for (const ev of evs) e.apply(ev);
  const ms = performance.now() - t0;
  console.log(`round ${r}: ${(evs.length / ms * 1000 / 1e6).toFixed(3)} M events/s`);
}
