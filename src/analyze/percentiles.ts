/**
 * Distribution summary. Percentiles use linear interpolation between closest ranks — numpy's default
 * `np.percentile(x, q, method="linear")`, which vLLM `bench serve` and AIPerf report: for sorted values
 * x[0..n-1], the q-quantile is at position h = (n − 1)·q, i.e. x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
 * So p50 of 1..10 is 5.5 and p90 is 9.1. Nulls and non-finite values are ignored. This is the one percentile
 * definition in the project (analyze, replay, compare and bench use it).
 */
export interface Distribution {
  n: number;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** The q-quantile (0 ≤ q ≤ 1) of ascending-sorted values by linear interpolation; null when empty. */
export function quantileSorted(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const h = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(h);
  const a = sorted[lo]!;
  if (lo + 1 >= sorted.length) return a;
  return a + (h - lo) * (sorted[lo + 1]! - a);
}

export function distribution(values: Iterable<number | null | undefined>): Distribution {
  const xs: number[] = [];
  for (const v of values) if (typeof v === 'number' && Number.isFinite(v)) xs.push(v);
  xs.sort((a, b) => a - b);
  const sum = xs.reduce((s, x) => s + x, 0);
  return {
    n: xs.length,
    mean: xs.length ? sum / xs.length : null,
    p50: quantileSorted(xs, 0.5),
    p90: quantileSorted(xs, 0.9),
    p99: quantileSorted(xs, 0.99),
    max: xs.length ? xs[xs.length - 1]! : null,
  };
}
