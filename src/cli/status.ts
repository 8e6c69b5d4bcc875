// `raftguard status [--url URL]`: a readable table of the cluster and the open findings, read from a
// running instance's admin API.
import { parseArgs } from 'node:util';
import type { ClusterSnapshot } from '../engine.js';
import type { Finding } from '../events/types.js';
import { UsageError, type Io } from './io.js';

export const STATUS_USAGE = `usage: raftguard status [--url http://127.0.0.1:9900] [--token TOKEN] [--json]`;

export async function statusCommand(argv: string[], io: Io): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: argv, options: { url: { type: 'string', default: 'http://127.0.0.1:9900' }, token: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${STATUS_USAGE}`);
  }
  if (args.values.help) {
    io.out(STATUS_USAGE + '\n');
    return 0;
  }
  const base = args.values.url!.replace(/\/$/, '');
  const token = args.values.token ?? process.env.RAFTGUARD_ADMIN_TOKEN;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  let cluster: ClusterSnapshot & { cluster: string };
  let findings: Finding[];
  try {
    const [c, f] = await Promise.all([fetch(`${base}/api/cluster`, { headers }), fetch(`${base}/api/findings`, { headers })]);
    if (!c.ok) throw new Error(`${base}/api/cluster answered ${c.status} ${await c.text()}`);
    if (!f.ok) throw new Error(`${base}/api/findings answered ${f.status}`);
    cluster = (await c.json()) as typeof cluster;
    findings = (await f.json()) as Finding[];
  } catch (err) {
    io.err(`raftguard status: cannot read ${base}: ${(err as Error).message}${(err as { cause?: Error }).cause ? ` (${(err as { cause: Error }).cause.message})` : ''}\n`);
    return 2;
  }
  if (args.values.json) {
    io.out(JSON.stringify({ cluster, findings }) + '\n');
    return 0;
  }
  io.out(formatStatus(cluster, findings));
  return 0;
}

export function formatStatus(c: ClusterSnapshot & { cluster: string }, findings: Finding[]): string {
  const leader = c.leader;
  const rows = [['member', 'role', 'term', 'last index', 'commit', 'match', 'lag']];
  for (const n of c.nodes) {
    const isLeader = leader?.id === n.id;
    const match = leader && !isLeader ? leader.match[n.id] : undefined;
    rows.push([
      n.id,
      isLeader ? 'leader' : n.role,
      String(n.term),
      String(n.lastIndex),
      String(n.commit),
      match === undefined ? '-' : String(match),
      match === undefined ? '-' : String(Math.max(0, leader!.lastIndex - match)),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  let out = `cluster ${c.cluster}: term ${c.term}, leader ${leader ? `${leader.id} (term ${leader.term})` : 'none'}, commit ${c.maxCommit}${c.complete ? '' : ' (partial observation)'}\n\n`;
  out += rows.map((r) => '  ' + r.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
  out += `\nfindings (${findings.length}):\n`;
  if (!findings.length) out += '  none\n';
  for (const f of findings.slice(-20)) out += `  [${f.severity}] ${f.code} ${f.name}${f.term !== undefined ? ` term ${f.term}` : ''} ${f.nodes.join(',')}: ${f.message}\n`;
  return out;
}
