import { describe, expect, it } from 'vitest';
import { distribution, quantileSorted } from '../../src/analyze/percentiles.js';
import { dist } from '../../src/replay/metrics.js';

// Expected values are numpy's: np.percentile(x, q) (method="linear"), computed by hand below.
describe('percentiles (one definition: linear interpolation, as numpy / vLLM bench)', () => {
  const oneToTen = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  it('p50/p90/p99 of 1..10 are 5.5 / 9.1 / 9.91', () => {
    const d = distribution(oneToTen);
    expect(d.p50).toBe(5.5); // h = 9·0.5 = 4.5 → 5 + 0.5·1
    expect(d.p90).toBeCloseTo(9.1, 12); // h = 8.1 → 9 + 0.1·1
    expect(d.p99).toBeCloseTo(9.91, 12); // h = 8.91 → 9 + 0.91·1
    expect(d.mean).toBe(5.5);
    expect(d.max).toBe(10);
  });
  it('analyze and replay agree', () => {
    const xs = [0.3, 12, 7, 7, 100, 42, 3];
    const a = distribution(xs);
    const r = dist(xs);
    expect(r).toEqual(a);
    // sorted: 0.3 3 7 7 12 42 100; p90: h = 6·0.9 = 5.4 → 42 + 0.4·58 = 65.2
    expect(a.p90).toBeCloseTo(65.2, 10);
    expect(a.p50).toBe(7);
  });
  it('edge cases: empty, one value, q at the ends, nulls ignored', () => {
    expect(quantileSorted([], 0.5)).toBeNull();
    expect(quantileSorted([4], 0.99)).toBe(4);
    expect(quantileSorted([1, 2], 0)).toBe(1);
    expect(quantileSorted([1, 2], 1)).toBe(2);
    expect(distribution([null, undefined, Number.NaN, 2, 4]).p50).toBe(3);
  });
});
