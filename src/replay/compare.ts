import type { RunResult } from './results.js';

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
}

export interface Comparison {
  rows: CompareRow[];
  /** How rows are ranked. */
  ranked_by: 'goodput_rps' | 'ttft_p50_ms';
  /** Mean of each numeric column over the ranked (status ok) runs. */
  averages: Partial<Record<keyof CompareRow, number | null>>;
  failed: { file: string; model: string; reason: string }[];
}

const NUMERIC: (keyof CompareRow)[] = [
  'ttft_p50_ms', 'ttft_p99_ms', 'prefill_tok_s', 'decode_tok_s', 'e2e_p50_ms', 'total_time_s', 'cache_hit_rate', 'goodput_rps',
];

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
  };
}

/**
 * Ranks runs: successful complete runs first — by goodput (desc) when every one of them has SLO goodput,
 * else by TTFT p50 (asc) — then interrupted runs, then failed runs (unranked).
 */
export function compareRuns(results: { path: string; result: RunResult }[]): Comparison {
  const rows = results.map(({ path, result }) => rowOf(path, result));
  const ok = rows.filter((r) => r.status === 'ok');
  const byGoodput = ok.length > 0 && ok.every((r) => r.goodput_rps !== null);
  const key = (r: CompareRow) => (byGoodput ? -(r.goodput_rps ?? 0) : (r.ttft_p50_ms ?? Infinity));
  const order = { ok: 0, interrupted: 1, failed: 2 } as const;
  rows.sort((a, b) => order[a.status] - order[b.status] || key(a) - key(b) || a.file.localeCompare(b.file));
  let rank = 0;
  for (const r of rows) if (r.status !== 'failed') r.rank = ++rank;
  const averages: Comparison['averages'] = {};
  for (const k of NUMERIC) {
    const vs = ok.map((r) => r[k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    averages[k] = vs.length ? vs.reduce((a, b) => a + b, 0) / vs.length : null;
  }
  const failed = results
    .filter(({ path }) => rows.find((r) => r.file === path)?.status === 'failed')
    .map(({ path, result }) => ({
      file: path,
      model: result.config.model,
      reason: result.requests.find((q) => !q.ok)?.error ?? (result.requests.length === 0 ? 'no request was sent' : 'no request succeeded'),
    }));
  return { rows, ranked_by: byGoodput ? 'goodput_rps' : 'ttft_p50_ms', averages, failed };
}
