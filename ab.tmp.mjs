// A/B: engine from /tmp/distA (before) vs ./dist (after), alternating rounds in one process.
import { readFileSync } from 'node:fs';
const A = await import('/tmp/distA/src/engine.js');
const B = await import('./dist/src/engine.js');
const { h, e: evs } = JSON.parse(readFileSync('/tmp/eng400k.json', 'utf8'));
const rounds = Number(process.argv[2] ?? 8);
const res = { A: [], B: [] };
function run(mod) { const e = mod.createEngine({ nodes: h.nodes, thresholds: h.thresholds }); let n = 0; const t0 = performance.now(); for (const ev of evs) n += e.apply(ev).length; return [evs.length / (performance.now() - t0) * 1000, n]; }
for (let r = 0; r < rounds; r++) for (const k of (r % 2 ? ['B', 'A'] : ['A', 'B'])) { const [rate, n] = run(k === 'A' ? A : B); res[k].push(rate); if (r === 0) console.log(k, 'findings', n); }
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log('A (before)', (med(res.A) / 1e6).toFixed(3), 'M/s  B (after)', (med(res.B) / 1e6).toFixed(3), 'M/s  ratio B/A', (med(res.B) / med(res.A)).toFixed(3));
