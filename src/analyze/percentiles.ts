/** Distribution summary (nearest-rank percentiles on sorted values); nulls and non-finite values are ignored. */
export interface Distribution {
  n: number;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

export function quantileSorted(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx]!;
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
