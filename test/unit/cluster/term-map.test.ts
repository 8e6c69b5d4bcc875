import { describe, expect, it } from 'vitest';
import { TermMap } from '../../../src/cluster/term-map.js';

/** The terms held, oldest first. */
function terms<V>(m: TermMap<V>): number[] {
  return Array.from({ length: m.size }, (_, i) => m.termAt(i));
}

describe('TermMap', () => {
  it('gets, replaces and deletes records by term, in insertion order', () => {
    const m = new TermMap<string>();
    expect(m.size).toBe(0);
    expect(m.get(1)).toBeUndefined();
    m.set(3, 'c');
    m.set(1, 'a');
    m.set(7, 'g');
    m.set(1, 'A'); // replaces in place
    expect(m.size).toBe(3);
    expect([m.get(1), m.get(3), m.get(7), m.get(4)]).toEqual(['A', 'c', 'g', undefined]);
    expect(terms(m)).toEqual([3, 1, 7]);
    expect(m.values()).toEqual(['c', 'A', 'g']);
    expect([0, 1, 2].map((i) => `${m.termAt(i)}=${m.recordAt(i)}`)).toEqual(['3=c', '1=A', '7=g']);
    expect(m.delete(3)).toBe(true);
    expect(m.delete(3)).toBe(false);
    expect(terms(m)).toEqual([1, 7]);
  });

  it('drops the lowest term whatever the insertion order', () => {
    const m = new TermMap<number>();
    for (const t of [5, 2, 9, 4]) m.set(t, t * 10);
    expect(m.deleteMin()).toBe(20);
    expect(m.deleteMin()).toBe(40);
    expect(terms(m)).toEqual([5, 9]);
    expect(m.deleteMin()).toBe(50);
    expect(m.deleteMin()).toBe(90);
    expect(m.deleteMin()).toBeUndefined();
    expect(m.size).toBe(0);
  });

  it('holds exactly what a Map would under add-and-evict churn', () => {
    const m = new TermMap<{ term: number }>();
    const ref = new Map<number, { term: number }>();
    let seed = 7;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    for (let i = 0; i < 5000; i++) {
      const term = rnd(200);
      const rec = { term };
      m.set(term, rec);
      ref.set(term, rec);
      if (m.size > 8) {
        const min = Math.min(...ref.keys());
        expect(m.deleteMin()).toBe(ref.get(min));
        ref.delete(min);
      }
      if (rnd(5) === 0) {
        const t = rnd(200);
        expect(m.delete(t)).toBe(ref.delete(t));
      }
      expect(m.size).toBe(ref.size);
    }
    for (const [k, v] of ref) expect(m.get(k)).toBe(v);
  });
});
