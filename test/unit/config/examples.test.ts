// The example configs the README points at must load as they are: a stale example is a bug report
// waiting to happen.
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadRunConfig } from '../../../src/config/run-config.js';
import { loadReplayConfig } from '../../../src/config/load.js';
import { DEFAULT_THRESHOLDS } from '../../../src/engine.js';

const DIR = resolve(__dirname, '../../../config');
const runExamples = readdirSync(DIR).filter((f) => f.endsWith('.example.yaml') && f !== 'thresholds.example.yaml');

describe('config examples', () => {
  it('there is one run example per dialect', () => {
    expect(runExamples.sort()).toEqual(['etcd.example.yaml', 'grpc.example.yaml', 'hashicorp.example.yaml']);
  });
  for (const f of runExamples) {
    it(`${f} loads as a raftguard run config`, () => {
      const cfg = loadRunConfig(join(DIR, f));
      expect(cfg.dialect).toBe(f.split('.')[0]);
      expect(cfg.members.length).toBeGreaterThanOrEqual(3);
    });
  }
  it('thresholds.example.yaml names every threshold there is, with the defaults', () => {
    const { thresholds } = loadReplayConfig(join(DIR, 'thresholds.example.yaml'));
    // noopVerifyMs is left commented out there: unset, it follows electionTimeoutMs.
    const missing = Object.keys(DEFAULT_THRESHOLDS).filter((k) => !(k in thresholds) && k !== 'noopVerifyMs');
    expect(missing).toEqual([]);
    for (const [k, v] of Object.entries(thresholds)) expect(v, k).toBe(DEFAULT_THRESHOLDS[k as keyof typeof DEFAULT_THRESHOLDS]);
  });
});
