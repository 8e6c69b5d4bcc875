// Configuration files (YAML). Every problem is collected and reported at once, each with its
// path in the file and its line, so an operator fixes a config in one pass.

import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isMap, isScalar, isSeq, type Node as YamlNode, type Document } from 'yaml';
import { DEFAULT_THRESHOLDS, type Thresholds } from '../engine.js';

export interface ConfigProblem {
  file: string;
  line?: number;
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(
      `${problems.length} configuration problem${problems.length === 1 ? '' : 's'}:\n` +
        problems.map((p) => `  ${p.file}${p.line ? `:${p.line}` : ''}: ${p.path}: ${p.message}`).join('\n'),
    );
  }
}

/** A parsed YAML file with helpers that record problems by path and line. */
export class ConfigReader {
  readonly problems: ConfigProblem[] = [];
  private readonly lines = new LineCounter();
  readonly doc: Document.Parsed;

  constructor(
    readonly file: string,
    text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false });
    for (const e of this.doc.errors) {
      this.problems.push({ file, line: e.linePos?.[0]?.line, path: '(yaml)', message: e.message.split('\n')[0]! });
    }
  }

  static fromFile(file: string): ConfigReader {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ConfigError([{ file, path: '(file)', message: e.code === 'ENOENT' ? 'no such file' : e.message }]);
    }
    return new ConfigReader(file, text);
  }

  lineOf(node: unknown): number | undefined {
    const range = (node as YamlNode | undefined)?.range;
    return range ? this.lines.linePos(range[0]).line : undefined;
  }

  problem(path: string, node: unknown, message: string): void {
    this.problems.push({ file: this.file, line: this.lineOf(node), path, message });
  }

  /** The node at a dotted path, or undefined. */
  node(path: string[]): unknown {
    return path.length === 0 ? this.doc.contents : this.doc.getIn(path, true);
  }

  /** Entries of a mapping node as [key, valueNode]; records a problem when it is not a mapping. */
  entries(path: string[]): Array<[string, unknown]> {
    const n = this.node(path);
    if (n === undefined || n === null) return [];
    if (!isMap(n)) {
      this.problem(path.join('.') || '(top level)', n, 'expected a mapping (key: value)');
      return [];
    }
    return n.items.map((it) => [String(isScalar(it.key) ? it.key.value : it.key), it.value]);
  }

  isSeq(n: unknown): boolean {
    return isSeq(n);
  }

  throwIfProblems(): void {
    if (this.problems.length) throw new ConfigError(this.problems);
  }
}

/** "250ms", "2s", "1.5m", "1h" or a bare number of milliseconds. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  return n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000);
}

/** Reads `thresholds:` into a partial Thresholds; durations are the keys ending in "Ms". */
export function readThresholds(r: ConfigReader, path: string[] = ['thresholds']): Partial<Thresholds> {
  const out: Partial<Record<keyof Thresholds, number>> = {};
  const known = Object.keys(DEFAULT_THRESHOLDS) as Array<keyof Thresholds>;
  for (const [key, node] of r.entries(path)) {
    const where = [...path, key].join('.');
    if (!(known as string[]).includes(key)) {
      r.problem(where, node, `unknown threshold; expected one of: ${known.join(', ')}`);
      continue;
    }
    const raw = isScalar(node) ? node.value : undefined;
    const isDuration = key.endsWith('Ms');
    const v = isDuration ? parseDuration(raw) : typeof raw === 'number' && Number.isFinite(raw) && raw >= 0 ? raw : undefined;
    if (v === undefined) {
      r.problem(where, node, isDuration ? 'expected a duration such as 500ms, 2s, 1m (or a number of ms)' : 'expected a non-negative number');
      continue;
    }
    out[key as keyof Thresholds] = v;
  }
  return out as Partial<Thresholds>;
}

/** The part of a config file `raftguard replay` uses. */
export interface ReplayConfig {
  thresholds: Partial<Thresholds>;
}

export function loadReplayConfig(file: string): ReplayConfig {
  const r = ConfigReader.fromFile(file);
  const thresholds = readThresholds(r);
  r.throwIfProblems();
  return { thresholds };
}
