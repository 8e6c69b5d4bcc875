import { createEngine } from './dist/src/engine.js';
import { simulate } from './dist/src/sim/index.js';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
const F = '/tmp/eng400k.json';
if (!existsSync(F)) { const s = simulate({ seed: 1, nodes: 5, maxEvents: 400000, durationMs: 1e9 }); writeFileSync(F, JSON.stringify({ h: s.header, e: [...s.events] })); }
const { h, e: evs } = JSON.parse(readFileSync(F, 'utf8'));
const rounds = Number(process.argv[2] ?? 5);
const rates = [];
for (let r = 0; r < rounds; r++) {
  const e = createEngine({ nodes: h.nodes, thresholds: h.thresholds });
  const t0 = performance.now();
  for (const ev of evs) e.apply(ev);
  const ms = performance.now() - t0;
  rates.push(evs.length / ms * 1000 / 1e6);
}
rates.sort((a,b)=>a-b);
console.log('engine M events/s: median', rates[rates.length>>1].toFixed(3), 'all', rates.map(x=>x.toFixed(3)).join(' '));
