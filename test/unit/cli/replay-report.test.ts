// The human report lists at most keepPerCode findings of each code and counts the rest, so a long
// capture with thousands of the same warning neither floods the report nor keeps their evidence.
import { describe, expect, it } from 'vitest';
import { ReplaySession, formatReport } from '../../../src/cli/replay.js';
import { runSim } from '../../../src/sim/index.js';

describe('replay report', () => {
  it('keeps keepPerCode findings per code, counts the others per code, and the summary counts all', () => {
    const r = runSim({ seed: 1, nodes: 5, maxEvents: 200_000, durationMs: 1e9 });
    const all = new ReplaySession(r.header, {}, { keepPerCode: Infinity });
    const capped = new ReplaySession(r.header, {}, { keepPerCode: 3 });
    for (const ev of r.events) {
      all.add(ev);
      capped.add(ev);
    }
    const a = all.finish();
    const c = capped.finish();
    const byCode = (fs: { code: string }[]) => fs.reduce<Record<string, number>>((m, f) => ((m[f.code] = (m[f.code] ?? 0) + 1), m), {});
    const full = byCode(a.findings);
    expect(Math.max(...Object.values(full))).toBeGreaterThan(3); // the capture does repeat a code
    const kept = byCode(c.findings);
    for (const [code, n] of Object.entries(full)) {
      expect(kept[code]).toBe(Math.min(n, 3));
      expect(c.droppedByCode?.[code] ?? 0).toBe(n - Math.min(n, 3));
    }
    expect(c.findingsDropped).toBe(a.findings.length - c.findings.length);
    expect(c.summary.findings).toEqual(a.summary.findings);
    const text = formatReport(c);
    const top = Object.entries(c.droppedByCode!).sort((x, y) => y[1] - x[1])[0]!;
    expect(text).toContain(`(${c.findingsDropped} more findings not listed: ${top[1]} ${top[0]}`);
  }, 30_000);
});
