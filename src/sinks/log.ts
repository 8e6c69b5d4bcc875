// Structured logs (pino): one line per finding, per leader change, per decode problem.
// Decode problems are rate-limited (a flapping peer must not flood the log): at most `burst` lines
// per `windowMs`, then one line saying how many were suppressed.

import pino, { type Logger } from 'pino';
import type { Finding, NodeId } from '../events/types.js';
import type { Sink } from '../runtime/monitor.js';

export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { app: 'raftguard' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

export class LogSink implements Sink {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly opts: { burst?: number; windowMs?: number; now?: () => number } = {},
  ) {}

  finding(f: Finding): void {
    const level = f.severity === 'critical' ? 'error' : f.severity === 'warning' ? 'warn' : 'info';
    this.log[level](
      { event: 'finding', code: f.code, name: f.name, severity: f.severity, term: f.term, nodes: f.nodes, t: f.t, recommendation: f.recommendation, details: f.details, evidence: f.evidence.length },
      `${f.code} ${f.name}: ${f.message}`,
    );
  }

  leaderChange(info: { t: number; term: number; leader: NodeId; previous?: NodeId }): void {
    this.log.info({ event: 'leader_change', ...info }, `leader of term ${info.term} is ${info.leader}${info.previous ? ` (was ${info.previous})` : ''}`);
  }

  decodeProblem(info: { conn: string; member: string; protocol: string; reason: string }): void {
    const now = (this.opts.now ?? Date.now)();
    const windowMs = this.opts.windowMs ?? 10_000;
    if (now - this.windowStart >= windowMs) {
      if (this.suppressed > 0) this.log.warn({ event: 'decode_error_suppressed', count: this.suppressed }, `${this.suppressed} more decode problems in the last ${windowMs} ms were not logged`);
      this.windowStart = now;
      this.inWindow = 0;
      this.suppressed = 0;
    }
    if (++this.inWindow > (this.opts.burst ?? 20)) {
      this.suppressed++;
      return;
    }
    this.log.warn({ event: 'decode_error', ...info }, `decoding stopped on connection ${info.conn} (${info.protocol}, member ${info.member}): ${info.reason}; forwarding continues`);
  }

  close(): void {
    this.log.flush?.();
  }
}
