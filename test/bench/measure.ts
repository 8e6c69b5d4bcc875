// Measuring helpers shared by the benchmarks: a process's CPU time from /proc, and nearest-rank percentiles.
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number | undefined): number {
  const t = cpuTimes(pid);
  return t.user + t.sys;
}

/** User and system CPU seconds a process has used so far (clock ticks: 10 ms resolution here). */
export function cpuTimes(pid: number | undefined): { user: number; sys: number } {
  if (pid === undefined) return { user: 0, sys: 0 };
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" closing the command name: state is field 3, utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / CLK_TCK, sys: Number(f[12]) / CLK_TCK };
}

/** Nearest-rank percentile (q in 0..1) of an ascending array; NaN when empty. */
export function pct(sorted: ArrayLike<number>, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}
