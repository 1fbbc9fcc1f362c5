import type { RunResult, SkippedResult } from './results.js';
import { median } from './metrics.js';
import { capacityOf, type CapacityReport } from './capacity.js';

/** One row of `trace compare` (field names are the --json contract, documented in docs/replay.md). */
export interface CompareRow {
  rank: number | null;
  file: string;
  model: string;
  label: string | null;
  api: string;
  trace: string;
  /** 'ok' (complete, ≥1 request ok), 'interrupted', 'failed' (no request succeeded). */
  status: 'ok' | 'interrupted' | 'failed';
  requests_ok: number;
  requests_failed: number;
  requests_total: number;
  ttft_p50_ms: number | null;
  ttft_p99_ms: number | null;
  prefill_tok_s: number | null;
  decode_tok_s: number | null;
  e2e_p50_ms: number | null;
  total_time_s: number;
  /** Server-reported cached / prompt tokens. */
  cache_hit_rate: number | null;
  goodput_rps: number | null;
  goodput_fraction: number | null;
  client_bound: boolean;
  /** Run validity (complete, failed fraction ≤ max_failed_fraction); files without it count as valid when complete. */
  valid: boolean;
  invalid_reason: string | null;
  users: number;
  repeat: number;
  warmup: string | null;
  cache_bust: boolean;
  /** Replayed job completion summed over sessions (ms), null for files without job metrics. */
  job_completion_ms: number | null;
}

/** The metrics compared per group (median over the group's valid runs of each run's own value). */
export const GROUP_METRICS = [
  { key: 'ttft_p50_ms', better: 'lower' },
  { key: 'ttft_p90_ms', better: 'lower' },
  { key: 'tpot_p50_ms', better: 'lower' },
  { key: 'e2e_p50_ms', better: 'lower' },
  { key: 'prefill_tok_s', better: 'higher' },
  { key: 'decode_tok_s', better: 'higher' },
  { key: 'output_tok_s', better: 'higher' },
  { key: 'cache_hit_rate', better: 'higher' },
  { key: 'job_completion_ms', better: 'lower' },
  { key: 'goodput_rps', better: 'higher' },
] as const;
export type GroupMetric = (typeof GROUP_METRICS)[number]['key'];

/** Median and range of one metric over a group's valid runs (never an average of percentiles). */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Runs of one model (+ label) at one `--users` level. */
export interface CompareGroup {
  model: string;
  label: string | null;
  users: number;
  runs: number;
  valid_runs: number;
  files: string[];
  rank: number | null;
  metrics: Record<GroupMetric, Spread | null>;
}

/** The best group per metric (per users level) and how far ahead of the runner-up it is. */
export interface MetricWinner {
  metric: GroupMetric;
  users: number;
  better: 'lower' | 'higher';
  winner: string;
  runner_up: string;
  winner_median: number;
  runner_up_median: number;
  /** |winner − runner-up| of the medians, and relative to the runner-up. */
  difference: number;
  difference_pct: number | null;
  /** The difference is smaller than the larger of the two groups' spreads (max − min over repeats). */
  within_noise: boolean;
  /** False when either group has a single run (spread unknown). */
  spread_known: boolean;
}

export interface Comparison {
  rows: CompareRow[];
  /** How rows and groups are ranked. */
  ranked_by: 'goodput_rps' | 'ttft_p50_ms';
  groups: CompareGroup[];
  winners: MetricWinner[];
  capacity: CapacityReport[];
  failed: { file: string; model: string; reason: string }[];
  /** Result files that could not be read (corrupt JSON, missing fields): counted and named, never dropped silently. */
  skipped: SkippedResult[];
}

export function rowOf(file: string, r: RunResult): CompareRow {
  const s = r.summary;
  const status: CompareRow['status'] = s.requests.ok === 0 ? 'failed' : r.status === 'interrupted' ? 'interrupted' : 'ok';
  return {
    rank: null,
    file,
    model: r.config.model,
    label: r.config.label ?? null,
    api: r.config.api,
    trace: r.config.trace,
    status,
    requests_ok: s.requests.ok,
    requests_failed: s.requests.failed,
    requests_total: s.requests.total,
    ttft_p50_ms: s.ttft_ms.p50,
    ttft_p99_ms: s.ttft_ms.p99,
    prefill_tok_s: s.prefill_tok_s,
    decode_tok_s: s.decode_tok_s,
    e2e_p50_ms: s.e2e_ms.p50,
    total_time_s: s.wall_ms / 1000,
    cache_hit_rate: s.cache.server_hit_rate,
    goodput_rps: s.goodput_rps,
    goodput_fraction: s.goodput_fraction,
    client_bound: s.self_audit.client_bound,
    valid: r.validity ? r.validity.valid : r.status === 'complete' && s.requests.ok > 0,
    invalid_reason: r.validity?.reason ?? (s.requests.ok === 0 ? 'no request succeeded' : null),
    users: r.config.users ?? 1,
    repeat: r.config.repeat ?? 1,
    warmup: r.config.warmup ?? null,
    cache_bust: Boolean(r.config.cache_bust),
    job_completion_ms: s.jobs?.replayed.total?.completion_ms ?? null,
  };
}

function metricOf(r: RunResult, row: CompareRow, k: GroupMetric): number | null {
  switch (k) {
    case 'ttft_p90_ms':
      return r.summary.ttft_ms.p90;
    case 'tpot_p50_ms':
      return r.summary.tpot_ms.p50;
    case 'output_tok_s':
      return r.summary.output_tok_s;
    default:
      return row[k];
  }
}

function spreadOf(xs: (number | null)[]): Spread | null {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return null;
  return { median: median(v)!, min: Math.min(...v), max: Math.max(...v), n: v.length };
}

export const groupName = (g: { model: string; label: string | null }): string => (g.label ? `${g.model} (${g.label})` : g.model);

function buildGroups(results: { path: string; result: RunResult }[], rows: Map<string, CompareRow>, byGoodput: boolean): CompareGroup[] {
  const m = new Map<string, { path: string; result: RunResult }[]>();
  for (const x of results) {
    const c = x.result.config;
    const k = `${c.model}\u0000${c.label ?? ''}\u0000${c.users ?? 1}`;
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    l.push(x);
  }
  const groups: CompareGroup[] = [];
  for (const xs of m.values()) {
    const c = xs[0]!.result.config;
    const valid = xs.filter((x) => rows.get(x.path)!.valid);
    const metrics = {} as Record<GroupMetric, Spread | null>;
    for (const { key } of GROUP_METRICS) metrics[key] = spreadOf(valid.map((x) => metricOf(x.result, rows.get(x.path)!, key)));
    groups.push({ model: c.model, label: c.label ?? null, users: c.users ?? 1, runs: xs.length, valid_runs: valid.length, files: xs.map((x) => x.path), rank: null, metrics });
  }
  const key = (g: CompareGroup) => (byGoodput ? -(g.metrics.goodput_rps?.median ?? -Infinity) : (g.metrics.ttft_p50_ms?.median ?? Infinity));
  groups.sort((a, b) => a.users - b.users || Number(b.valid_runs > 0) - Number(a.valid_runs > 0) || key(a) - key(b) || groupName(a).localeCompare(groupName(b)));
  const rankAt = new Map<number, number>();
  for (const g of groups) {
    if (g.valid_runs === 0) continue;
    const r = (rankAt.get(g.users) ?? 0) + 1;
    rankAt.set(g.users, r);
    g.rank = r;
  }
  return groups;
}

function winnersOf(groups: CompareGroup[]): MetricWinner[] {
  const out: MetricWinner[] = [];
  for (const users of [...new Set(groups.map((g) => g.users))]) {
    const gs = groups.filter((g) => g.users === users && g.valid_runs > 0);
    if (gs.length < 2) continue;
    for (const { key, better } of GROUP_METRICS) {
      const have = gs.filter((g) => g.metrics[key] !== null).sort((a, b) => (better === 'lower' ? 1 : -1) * (a.metrics[key]!.median - b.metrics[key]!.median));
      if (have.length < 2) continue;
      const [w, r] = [have[0]!, have[1]!];
      const wm = w.metrics[key]!;
      const rm = r.metrics[key]!;
      const difference = Math.abs(wm.median - rm.median);
      const spread = Math.max(wm.max - wm.min, rm.max - rm.min);
      out.push({
        metric: key,
        users,
        better,
        winner: groupName(w),
        runner_up: groupName(r),
        winner_median: wm.median,
        runner_up_median: rm.median,
        difference,
        difference_pct: rm.median !== 0 ? (100 * difference) / Math.abs(rm.median) : null,
        within_noise: difference <= spread,
        spread_known: wm.n > 1 && rm.n > 1,
      });
    }
  }
  return out;
}

/**
 * Ranks runs: successful complete runs first — by goodput (desc) when every one of them has SLO goodput,
 * else by TTFT p50 (asc) — then interrupted runs, then failed runs (unranked). Groups runs by model (+ label) and
 * users level: per metric the median and min–max over the group's valid runs, and a winner per metric.
 */
export function compareRuns(results: { path: string; result: RunResult }[], skipped: SkippedResult[] = []): Comparison {
  const rows = results.map(({ path, result }) => rowOf(path, result));
  const ok = rows.filter((r) => r.status === 'ok');
  const byGoodput = ok.length > 0 && ok.every((r) => r.goodput_rps !== null);
  const key = (r: CompareRow) => (byGoodput ? -(r.goodput_rps ?? 0) : (r.ttft_p50_ms ?? Infinity));
  const order = { ok: 0, interrupted: 1, failed: 2 } as const;
  rows.sort((a, b) => order[a.status] - order[b.status] || key(a) - key(b) || a.file.localeCompare(b.file));
  let rank = 0;
  for (const r of rows) if (r.status !== 'failed') r.rank = ++rank;
  const byPath = new Map(rows.map((r) => [r.file, r]));
  const groups = buildGroups(results, byPath, byGoodput);
  const failed = results
    .filter(({ path }) => rows.find((r) => r.file === path)?.status === 'failed')
    .map(({ path, result }) => ({
      file: path,
      model: result.config.model,
      reason: result.requests.find((q) => !q.ok)?.error ?? (result.requests.length === 0 ? 'no request was sent' : 'no request succeeded'),
    }));
  return {
    rows,
    ranked_by: byGoodput ? 'goodput_rps' : 'ttft_p50_ms',
    groups,
    winners: winnersOf(groups),
    capacity: capacityOf(results.map((x) => x.result)),
    failed,
    skipped,
  };
}
